// TokenConstraint: restricts which tokens may come next during sampling (structured output).
#pragma once

#include <cstdint>

namespace bastion::grammar {

// The sampler asks Allows() for candidate tokens in order of preference until one is accepted,
// then the generator calls Accept() with the chosen token. Implementations keep the state of a
// partial output (for JSON: a pushdown automaton over the bytes generated so far).
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Would appending this token keep the output a valid prefix? End-of-generation tokens are asked
  // about too: a constraint allows them only when the output is Complete().
  virtual bool Allows(int32_t token) = 0;
  // Appends the token (which Allows accepted).
  virtual void Accept(int32_t token) = 0;
  // The output so far is a complete value: generation may stop here.
  virtual bool Complete() const = 0;
};

}  // namespace bastion::grammar
