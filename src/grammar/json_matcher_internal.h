// Internal to src/grammar: the matcher's machinery — thread states, frame kinds and phases, and
// the Stepper that advances one thread's stack by one byte. Shared by json_matcher.cc (threads,
// value starts, arrays, numbers, enums, the JsonMatcher API; it also documents the frame layout)
// and json_matcher_strings.cc (strings, objects and their keys).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "grammar/json_internal.h"

namespace bastion::grammar {

using Stack = std::vector<Frame>;

struct MatcherState {
  std::vector<Stack> threads;  // the first n are live; the rest keep capacity for reuse
  size_t n = 0;

  // Copy-assigns stack by stack so existing capacity is reused: no allocation once warm.
  void CopyFrom(const MatcherState& other) {
    if (threads.size() < other.n) threads.resize(other.n);
    for (size_t i = 0; i < other.n; ++i) threads[i] = other.threads[i];
    n = other.n;
  }
};

namespace matcher_internal {

using Node = JsonGrammar::Node;

enum Kind : uint8_t { kRoot, kObject, kSeenWord, kKeyRecord, kKey, kString, kArray, kNumber, kLiteral, kEnum };
enum RootPhase : uint8_t { kRootExpect, kRootDone };
enum ObjectPhase : uint8_t { kObjOpen, kObjNeedKey, kObjAfterKey, kObjNeedValue, kObjAfterValue };
enum ArrayPhase : uint8_t { kArrOpen, kArrNeedValue, kArrAfterValue };
enum StringPhase : uint8_t {
  kStrNormal, kStrEscape, kStrHex0, kStrHex1, kStrHex2, kStrHex3, kStrNeedBackslash, kStrNeedU,
  kStrLowHex0, kStrLowHex1, kStrLowHex2, kStrLowHex3,
};
enum NumberPhase : uint8_t { kNumMinus, kNumZero, kNumInt, kNumDot, kNumFrac, kNumE, kNumExpSign, kNumExp };
enum : uint8_t { kKeyOpen = 1, kKeyBudget = 2, kIntegerOnly = 1 };
enum class Outcome { kDead, kAlive, kFork };
// A number or enum frame's verdict on a byte: consumed, refused, or "I am complete; the byte is
// the next frame's".
enum class Scalar { kConsumed, kReject, kEnded };

inline constexpr std::string_view kLiterals[] = {"true", "false", "null"};
inline constexpr uint32_t kContinuationRange = 0x80 | (0xBF << 8);
inline constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull, kFnvPrime = 0x100000001b3ull;

inline bool IsWs(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }
inline bool IsDigit(uint8_t b) { return b >= '0' && b <= '9'; }
inline int HexValue(uint8_t b) {
  if (b >= '0' && b <= '9') return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}
inline bool IsFinalNumber(uint8_t phase) {
  return phase == kNumZero || phase == kNumInt || phase == kNumFrac || phase == kNumExp;
}

// Narrows [*lo, *hi) — strings that all share their first `pos` bytes, sorted — to those whose
// byte `pos` is b. Strings of length pos sort first, then by byte pos.
template <typename GetString>
inline void NarrowRange(GetString get, uint32_t pos, uint8_t b, uint32_t* lo, uint32_t* hi) {
  auto key = [&](uint32_t i) -> int {
    const std::string& s = get(i);
    return s.size() > pos ? static_cast<uint8_t>(s[pos]) + 1 : 0;
  };
  uint32_t a = *lo, z = *hi;
  while (a < z) {  // first with key >= b + 1
    const uint32_t mid = a + (z - a) / 2;
    if (key(mid) < b + 1) a = mid + 1; else z = mid;
  }
  uint32_t e = a, f = *hi;
  while (e < f) {  // first with key > b + 1
    const uint32_t mid = e + (f - e) / 2;
    if (key(mid) <= b + 1) e = mid + 1; else f = mid;
  }
  *lo = a;
  *hi = e;
}

class Stepper {
 public:
  explicit Stepper(const JsonGrammar::Graph& g) : g_(g) {}

  // Feeds one byte to every thread of `s`; false if none survives (s is then garbage).
  bool Step(MatcherState* s, uint8_t b) const;
  bool Complete(const Stack& st) const;

 private:
  Outcome Advance(Stack& st, uint8_t b, uint32_t* fork) const;
  Outcome AdvanceTop(Stack& st, uint8_t b, uint32_t* fork, bool* took_ws) const;
  Outcome StartValue(Stack& st, uint32_t node, uint8_t b, uint32_t* fork) const;
  bool StartConcrete(Stack& st, uint32_t node, uint8_t b) const;
  Outcome ObjectByte(Stack& st, uint8_t b, uint32_t* fork, bool* took_ws) const;
  Outcome ArrayByte(Stack& st, uint8_t b, uint32_t* fork, bool* took_ws) const;
  bool StringByte(Stack& st, uint8_t b) const;
  Scalar NumberByte(Frame& f, uint8_t b) const;
  Scalar EnumByte(Stack& st, uint8_t b) const;
  static bool TakeWs(Stack& st, uint8_t b, bool* took_ws);

  // Objects and keys.
  bool CanClose(const Frame& obj) const;
  bool BudgetOk(const Frame& obj) const;
  bool CanAddKey(const Stack& st) const;
  // The frame holding the seen bit of property i of the object at st[obj].
  static size_t SeenFrame(const Stack& st, size_t obj, uint32_t i) { return i < 64 ? obj : obj - st[obj].hi - i / 64; }
  static bool Seen(const Stack& st, size_t obj, uint32_t i) { return (st[SeenFrame(st, obj, i)].bits >> (i % 64)) & 1; }
  void PopObject(Stack& st) const { st.resize(st.size() - g_.nodes[st.back().node].SeenWords() - st.back().hi); }
  bool Eligible(const Stack& st, size_t obj, uint8_t key_flags, uint32_t i) const;
  bool AnyEligible(const Stack& st, size_t obj, uint8_t key_flags, uint32_t lo, uint32_t hi) const;
  bool KeyByte(Stack& st, uint8_t d) const;
  bool KeyCodePoint(Stack& st, uint32_t cp) const;
  bool KeyEscapePossible(const Stack& st) const;
  bool CloseKey(Stack& st) const;
  bool DecodedByte(Stack& st, uint8_t d) const { return st.back().kind == kKey ? KeyByte(st, d) : true; }
  bool BeginCodePoint(Frame& f) const;

  const JsonGrammar::Graph& g_;
};

}  // namespace matcher_internal
}  // namespace bastion::grammar
