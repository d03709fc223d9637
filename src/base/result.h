// Result<T> and Error: how untrusted input (model files, requests, CLI flags) reports failure.
//
// Bugs use BASTION_CHECK (check.h) and abort; anything that comes from outside the process
// returns a Result with a message that says what was expected and what was found.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace bastion {

// An error with a human-readable message. Context is prepended as the error travels up
// ("loading model.gguf: tensor 'blk.0.attn_q.weight': offset 123 past end of file (size 100)").
class Error {
 public:
  Error() = default;
  explicit Error(std::string message) : message_(std::move(message)) {}

  const std::string& message() const { return message_; }

  // Returns a copy with "context: " in front of the message.
  Error WithContext(const std::string& context) const { return Error(context + ": " + message_); }

 private:
  std::string message_;
};

// Either a value or an Error. Accessing the wrong alternative is a bug and aborts.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) : data_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return data_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return Get(); }
  const T& value() const& { return const_cast<Result*>(this)->Get(); }
  T&& value() && { return std::move(Get()); }
  T* operator->() { return &Get(); }
  const T* operator->() const { return &const_cast<Result*>(this)->Get(); }
  T& operator*() & { return Get(); }
  const T& operator*() const& { return const_cast<Result*>(this)->Get(); }

  const Error& error() const {
    if (ok()) Die("Result::error() called on a value");
    return std::get<1>(data_);
  }

 private:
  T& Get() {
    if (!ok()) Die(("Result::value() called on an error: " + std::get<1>(data_).message()).c_str());
    return std::get<0>(data_);
  }
  [[noreturn]] static void Die(const char* what) {
    std::fprintf(stderr, "fatal: %s\n", what);
    std::abort();
  }

  std::variant<T, Error> data_;
};

// Result<void>: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const {
    if (!error_) {
      std::fprintf(stderr, "fatal: Status::error() called on success\n");
      std::abort();
    }
    return *error_;
  }

 private:
  std::optional<Error> error_;
};

inline Status OkStatus() { return Status(); }

}  // namespace bastion

// Propagates an error from an expression returning Status or Result<T>.
#define BASTION_RETURN_IF_ERROR(expr)              \
  do {                                             \
    auto bastion_status_ = (expr);                 \
    if (!bastion_status_.ok()) return bastion_status_.error(); \
  } while (0)

#define BASTION_CONCAT_INNER_(a, b) a##b
#define BASTION_CONCAT_(a, b) BASTION_CONCAT_INNER_(a, b)

// BASTION_ASSIGN_OR_RETURN(auto x, MakeX()); declares x from the value or returns the error.
#define BASTION_ASSIGN_OR_RETURN(decl, expr)                                  \
  auto BASTION_CONCAT_(bastion_result_, __LINE__) = (expr);                   \
  if (!BASTION_CONCAT_(bastion_result_, __LINE__).ok())                       \
    return BASTION_CONCAT_(bastion_result_, __LINE__).error();                \
  decl = std::move(BASTION_CONCAT_(bastion_result_, __LINE__)).value()
