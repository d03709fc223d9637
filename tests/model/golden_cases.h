// Golden cases from shared/golden/INDEX.json (llama.cpp's outputs), and model loading shared by
// the golden tests. See shared/golden/README.md for the data and the recommended checks.
#pragma once

#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/context.h"
#include "model/model.h"

namespace bastion::testing {

struct GoldenCase {
  std::string id;
  std::string kind;   // "logits" or "greedy"
  std::string model;  // model id in INDEX
  nlohmann::json json;
};

// gtest prints parameters with this (the case id instead of a byte dump).
inline void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.id; }

// All cases of one kind; empty when shared/ is absent (tests then skip).
std::vector<GoldenCase> LoadGoldenCases(const std::string& kind);

// The whole INDEX.json (cached).
const nlohmann::json& GoldenIndex();

// Path of a model file by INDEX model id.
std::string GoldenModelPath(const std::string& model_id);

// Loads (once) and returns a golden model; aborts the test on failure.
const Model& GoldenModel(const std::string& model_id);

// Suggested tolerances for a model.
double NmseTolerance(const std::string& model_id);
double Tau(const std::string& model_id);

// sum((x - ref)^2) / sum(ref^2)
double Nmse(const float* x, const float* ref, size_t n);

// For gtest parameter names: "kernel-f16-pure/L1a" -> "kernel_f16_pure_L1a".
std::string SafeName(const std::string& id);

}  // namespace bastion::testing
