// Reading INDEX.json and loading golden models once per test binary.
#include "golden_cases.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"

namespace bastion::testing {

const nlohmann::json& GoldenIndex() {
  static const nlohmann::json index = [] {
    const std::string dir = SharedDir();
    if (dir.empty()) return nlohmann::json::object();
    std::ifstream in(dir + "/golden/INDEX.json");
    return nlohmann::json::parse(in);
  }();
  return index;
}

std::vector<GoldenCase> LoadGoldenCases(const std::string& kind) {
  std::vector<GoldenCase> out;
  const nlohmann::json& index = GoldenIndex();
  if (!index.contains("cases")) return out;
  for (const auto& c : index["cases"]) {
    if (c["kind"] != kind) continue;
    out.push_back({c["id"], c["kind"], c["model"], c});
  }
  return out;
}

std::string GoldenModelPath(const std::string& model_id) {
  return SharedDir() + "/" + GoldenIndex()["models"][model_id]["file"].get<std::string>();
}

const Model& GoldenModel(const std::string& model_id) {
  static std::map<std::string, std::unique_ptr<Model>> cache;
  auto it = cache.find(model_id);
  if (it == cache.end()) {
    auto model = Model::Load(GoldenModelPath(model_id));
    if (!model.ok()) {
      ADD_FAILURE() << model.error().message();
      std::abort();
    }
    it = cache.emplace(model_id, std::move(model).value()).first;
  }
  return *it->second;
}

double NmseTolerance(const std::string& model_id) {
  return GoldenIndex()["tolerances"][model_id]["suggested"]["logits_nmse_max_per_position"].get<double>();
}

double Tau(const std::string& model_id) {
  return GoldenIndex()["tolerances"][model_id]["suggested"]["top1_must_match_where_llama_margin_ge"].get<double>();
}

double Nmse(const float* x, const float* ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - ref[i];
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return den > 0 ? num / den : num;
}

std::string SafeName(const std::string& id) {
  std::string s;
  for (char c : id) s += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return s;
}

}  // namespace bastion::testing
