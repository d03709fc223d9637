// JsonMatcher: the pushdown automaton that validates output bytes against a compiled grammar.
//
// State: one stack of Frames per live alternative ("thread"); anyOf forks threads when a value
// starts, and threads that reject a byte die. Almost always there is a single thread a few
// frames deep, so copying the state (what CanFeed does) is one small memcpy.
//
// Frame use by kind (fields of json_internal.h's Frame):
//   kRoot     bottom of every stack. phase: expecting / done with the top-level value.
//             aux: bytes in the current whitespace run; small: it started with a newline.
//   kObject   node; phase; count: keys so far; lo: required keys seen; hi: unlisted keys
//             recorded; aux: schema of the current key's value; bits: seen properties 0..63.
//             Right below it: `hi` kKeyRecord frames (bits: 64-bit hash of an unlisted key
//             already used, so it is not used twice), and below those one kSeenWord frame per
//             further 64 properties (bits: seen properties 64.., 128.., ...).
//   kKey      a key string being read. node: the object's; count: decoded bytes so far;
//             [lo, hi): properties whose key starts with them; bits: FNV-1a hash of them;
//             flags: kKeyOpen (unlisted keys allowed), kKeyBudget (optional keys allowed:
//             maxProperties leaves room).
//   kString   node; count: code points so far.
//   kKey/kString share the string decoder: phase (escape progress), small: UTF-8 continuation
//             bytes still due, aux: allowed range for the next one (lo | hi << 8), or during a
//             \u escape the code unit (low 16 bits) and a pending high surrogate (high 16).
//   kArray    node; phase; count: elements so far.
//   kNumber   phase of the JSON number grammar; flags: kIntegerOnly; count: digits of the
//             current part (integer, fraction, exponent), for the caps.
//   kLiteral  small: which of true/false/null; count: bytes matched.
//   kEnum     node; [lo, hi): members (sorted serializations) with the bytes so far as prefix;
//             count: bytes matched.
// Numbers (and enum members that are numbers) end only when a byte that cannot continue them
// arrives: the frame pops and the byte is offered to the frame below.
#include <algorithm>
#include <utility>

#include "base/check.h"
#include "grammar/json_matcher_internal.h"

namespace bastion::grammar {
namespace matcher_internal {

bool Stepper::Step(MatcherState* s, uint8_t b) const {
  const size_t n0 = s->n;
  for (size_t i = 0; i < n0; ++i) {
    uint32_t fork = kNoNode;
    const Outcome r = Advance(s->threads[i], b, &fork);
    if (r == Outcome::kDead) {
      s->threads[i].clear();
    } else if (r == Outcome::kFork) {
      const std::vector<uint32_t>& alts = g_.nodes[fork].flat;
      for (size_t a = 1; a < alts.size() && s->n < JsonMatcher::kMaxThreads; ++a) {
        if (s->threads.size() <= s->n) s->threads.emplace_back();
        s->threads[s->n] = s->threads[i];
        if (StartConcrete(s->threads[s->n], alts[a], b)) ++s->n;
      }
      if (!StartConcrete(s->threads[i], alts[0], b)) s->threads[i].clear();
    }
  }
  // Drop dead threads and duplicates (alternatives that have converged), keeping capacity.
  size_t live = 0;
  for (size_t i = 0; i < s->n; ++i) {
    Stack& t = s->threads[i];
    if (t.empty()) continue;
    bool duplicate = false;
    for (size_t j = 0; j < live && !duplicate; ++j) {
      const Stack& u = s->threads[j];
      // Threads share their bottom frames; comparing from the top finds differences first.
      duplicate = u.size() == t.size() && std::equal(t.rbegin(), t.rend(), u.rbegin());
    }
    if (duplicate) {
      t.clear();
      continue;
    }
    if (live != i) std::swap(s->threads[live], t);
    ++live;
  }
  s->n = live;
  return live > 0;
}

Outcome Stepper::Advance(Stack& st, uint8_t b, uint32_t* fork) const {
  bool took_ws = false;
  const Outcome r = AdvanceTop(st, b, fork, &took_ws);
  if (r != Outcome::kDead && !took_ws) st[0].aux = st[0].small = 0;  // the whitespace run ended
  return r;
}

// llama.cpp's JSON whitespace rule (`ws ::= | " " | "\n" [ \t]{0,20}`): one space, or a
// newline and indentation. Compact and pretty-printed JSON both fit; a model cannot wander off in
// blank lines, tabs or carriage returns.
bool Stepper::TakeWs(Stack& st, uint8_t b, bool* took_ws) {
  Frame& root = st[0];
  if (root.aux == 0) {
    if (b != ' ' && b != '\n') return false;
    root.small = (b == '\n');  // after a newline, indentation may follow
  } else {
    if (!root.small || (b != ' ' && b != '\t')) return false;
    if (root.aux > JsonMatcher::kMaxIndent) return false;
  }
  ++root.aux;
  *took_ws = true;
  return true;
}

Outcome Stepper::AdvanceTop(Stack& st, uint8_t b, uint32_t* fork, bool* took_ws) const {
  constexpr Outcome kAlive = Outcome::kAlive, kDead = Outcome::kDead;
  for (;;) {
    Frame& f = st.back();
    switch (f.kind) {
      case kRoot:
        if (IsWs(b)) return TakeWs(st, b, took_ws) ? kAlive : kDead;
        if (f.phase != kRootExpect) return kDead;
        f.phase = kRootDone;
        return StartValue(st, g_.root, b, fork);
      case kObject:
        return ObjectByte(st, b, fork, took_ws);
      case kArray:
        return ArrayByte(st, b, fork, took_ws);
      case kKey:
      case kString:
        return StringByte(st, b) ? kAlive : kDead;
      case kLiteral: {
        const std::string_view lit = kLiterals[f.small];
        if (static_cast<uint8_t>(lit[f.count]) != b) return kDead;
        if (++f.count == lit.size()) st.pop_back();
        return kAlive;
      }
      case kNumber:
      case kEnum: {
        const Scalar r = f.kind == kNumber ? NumberByte(f, b) : EnumByte(st, b);
        if (r == Scalar::kConsumed) return kAlive;
        if (r == Scalar::kReject) return kDead;
        st.pop_back();  // complete: offer the byte to the enclosing frame
        continue;
      }
      default:
        BASTION_CHECK_MSG(false, "matcher: unexpected frame on top of the stack");
    }
  }
}

Outcome Stepper::StartValue(Stack& st, uint32_t node, uint8_t b, uint32_t* fork) const {
  const Node& n = g_.nodes[node];
  if (n.is_union) {
    if (n.flat.size() != 1) {
      *fork = node;
      return n.flat.empty() ? Outcome::kDead : Outcome::kFork;
    }
    node = n.flat[0];
  }
  return StartConcrete(st, node, b) ? Outcome::kAlive : Outcome::kDead;
}

bool Stepper::StartConcrete(Stack& st, uint32_t node, uint8_t b) const {
  const Node& n = g_.nodes[node];
  if (st.size() + n.SeenWords() > JsonMatcher::kMaxFrames) return false;
  Frame f;
  f.node = node;
  if (n.has_enum) {
    const auto& members = n.enum_bytes;
    uint32_t lo = 0, hi = static_cast<uint32_t>(members.size());
    NarrowRange([&](uint32_t i) -> const std::string& { return members[i]; }, 0, b, &lo, &hi);
    if (lo == hi) return false;
    // A lone one-byte member (a digit) is complete already; nothing can extend it.
    if (hi - lo == 1 && members[lo].size() == 1) return true;
    f.kind = kEnum;
    f.lo = lo;
    f.hi = hi;
    f.count = 1;
    st.push_back(f);
    return true;
  }
  switch (b) {
    case '{':
      if (!(n.types & kTypeObject)) return false;
      for (uint32_t w = 1; w < n.SeenWords(); ++w) st.push_back(Frame{.node = node, .kind = kSeenWord});
      f.kind = kObject;
      f.phase = kObjOpen;
      break;
    case '[':
      if (!(n.types & kTypeArray)) return false;
      f.kind = kArray;
      f.phase = kArrOpen;
      break;
    case '"':
      if (!(n.types & kTypeString)) return false;
      f.kind = kString;
      f.phase = kStrNormal;
      break;
    case 't':
    case 'f':
    case 'n':
      if (!(n.types & (b == 'n' ? kTypeNull : kTypeBoolean))) return false;
      f.kind = kLiteral;
      f.small = b == 't' ? 0 : b == 'f' ? 1 : 2;
      f.count = 1;
      break;
    default:
      if (b != '-' && !IsDigit(b)) return false;
      if (!(n.types & (kTypeInteger | kTypeNumber))) return false;
      f.kind = kNumber;
      f.flags = (n.types & kTypeNumber) ? 0 : kIntegerOnly;
      f.phase = b == '-' ? kNumMinus : b == '0' ? kNumZero : kNumInt;
      f.count = b == '-' ? 0 : 1;
      break;
  }
  st.push_back(f);
  return true;
}

// ---- numbers and enums ----

Scalar Stepper::NumberByte(Frame& f, uint8_t b) const {
  const bool fraction_ok = !(f.flags & kIntegerOnly);
  // Enters a new part of the number; `count` counts the digits of the current part.
  auto next = [&](uint8_t phase, uint32_t digits) {
    f.phase = phase;
    f.count = digits;
    return Scalar::kConsumed;
  };
  auto more_digits = [&](uint32_t cap) {
    if (f.count >= cap) return Scalar::kReject;
    ++f.count;
    return Scalar::kConsumed;
  };
  switch (f.phase) {
    case kNumMinus:
      if (b == '0') return next(kNumZero, 1);
      if (IsDigit(b)) return next(kNumInt, 1);
      return Scalar::kReject;
    case kNumInt:
      if (IsDigit(b)) return more_digits(JsonMatcher::kMaxIntegerDigits);
      [[fallthrough]];
    case kNumZero:
      if (b == '.' && fraction_ok) return next(kNumDot, 0);
      if ((b == 'e' || b == 'E') && fraction_ok) return next(kNumE, 0);
      return Scalar::kEnded;
    case kNumDot:
      return IsDigit(b) ? next(kNumFrac, 1) : Scalar::kReject;
    case kNumFrac:
      if (IsDigit(b)) return more_digits(JsonMatcher::kMaxFractionDigits);
      if (b == 'e' || b == 'E') return next(kNumE, 0);
      return Scalar::kEnded;
    case kNumE:
      if (b == '+' || b == '-') return next(kNumExpSign, 0);
      return IsDigit(b) ? next(kNumExp, 1) : Scalar::kReject;
    case kNumExpSign:
      return IsDigit(b) ? next(kNumExp, 1) : Scalar::kReject;
    case kNumExp:
      return IsDigit(b) ? more_digits(JsonMatcher::kMaxExponentDigits) : Scalar::kEnded;
  }
  return Scalar::kReject;
}

Scalar Stepper::EnumByte(Stack& st, uint8_t b) const {
  Frame& f = st.back();
  const auto& members = g_.nodes[f.node].enum_bytes;
  uint32_t lo = f.lo, hi = f.hi;
  NarrowRange([&](uint32_t i) -> const std::string& { return members[i]; }, f.count, b, &lo, &hi);
  if (lo < hi) {
    f.lo = lo;
    f.hi = hi;
    ++f.count;
    // Only a number can be extended once complete; any other member ends itself.
    if (hi - lo == 1 && members[lo].size() == f.count) st.pop_back();
    return Scalar::kConsumed;
  }
  return members[f.lo].size() == f.count ? Scalar::kEnded : Scalar::kReject;
}

Outcome Stepper::ArrayByte(Stack& st, uint8_t b, uint32_t* fork, bool* took_ws) const {
  Frame& f = st.back();
  const Node& n = g_.nodes[f.node];
  if (IsWs(b)) return TakeWs(st, b, took_ws) ? Outcome::kAlive : Outcome::kDead;
  if (f.phase == kArrAfterValue || (f.phase == kArrOpen && b == ']')) {
    if (b == ']' && f.count >= n.min_items) {
      st.pop_back();
      return Outcome::kAlive;
    }
    if (b == ',' && f.phase == kArrAfterValue && f.count < n.max_items && st.size() < JsonMatcher::kMaxFrames) {
      f.phase = kArrNeedValue;
      return Outcome::kAlive;
    }
    return Outcome::kDead;
  }
  if (f.count >= n.max_items) return Outcome::kDead;
  const uint32_t item = n.ItemNode(f.count);
  ++f.count;
  f.phase = kArrAfterValue;
  return StartValue(st, item, b, fork);  // f may dangle from here on
}

bool Stepper::Complete(const Stack& st) const {
  if (st.empty() || st[0].phase != kRootDone) return false;
  if (st.size() == 1) return true;
  if (st.size() != 2) return false;
  const Frame& top = st[1];
  if (top.kind == kNumber) return IsFinalNumber(top.phase);
  if (top.kind == kEnum) return g_.nodes[top.node].enum_bytes[top.lo].size() == top.count;
  return false;
}

}  // namespace matcher_internal

using namespace matcher_internal;  // NOLINT: this file is its main user

JsonMatcher::JsonMatcher(std::shared_ptr<const JsonGrammar> grammar)
    : grammar_(std::move(grammar)), state_(std::make_unique<MatcherState>()), scratch_(std::make_unique<MatcherState>()) {
  BASTION_CHECK(grammar_ != nullptr);
  Frame root;
  root.kind = kRoot;
  root.phase = kRootExpect;
  state_->threads.push_back(Stack{root});
  state_->n = 1;
}

JsonMatcher::JsonMatcher(const JsonMatcher& other)
    : grammar_(other.grammar_), state_(std::make_unique<MatcherState>(*other.state_)), scratch_(std::make_unique<MatcherState>()) {}

JsonMatcher& JsonMatcher::operator=(const JsonMatcher& other) {
  if (this != &other) {
    grammar_ = other.grammar_;
    state_->CopyFrom(*other.state_);
  }
  return *this;
}

JsonMatcher::JsonMatcher(JsonMatcher&&) noexcept = default;
JsonMatcher& JsonMatcher::operator=(JsonMatcher&&) noexcept = default;
JsonMatcher::~JsonMatcher() = default;

bool JsonMatcher::Feed(std::string_view bytes) {
  if (!CanFeed(bytes)) return false;
  std::swap(state_, scratch_);
  return true;
}

bool JsonMatcher::CanFeed(std::string_view bytes) const {
  const Stepper stepper(grammar_->graph());
  scratch_->CopyFrom(*state_);
  for (char c : bytes) {
    if (!stepper.Step(scratch_.get(), static_cast<uint8_t>(c))) return false;
  }
  return true;
}

bool JsonMatcher::Complete() const {
  const Stepper stepper(grammar_->graph());
  for (size_t i = 0; i < state_->n; ++i) {
    if (stepper.Complete(state_->threads[i])) return true;
  }
  return false;
}

uint32_t JsonMatcher::PlainStringRoom() const {
  if (state_->n != 1) return 0;
  const Frame& top = state_->threads[0].back();
  if (top.phase != kStrNormal || top.small != 0) return 0;
  if (top.kind == kKey && (top.flags & kKeyOpen)) return kUnlimited;  // any key may be typed
  if (top.kind != kString) return 0;
  return grammar_->graph().nodes[top.node].max_length - top.count;
}

std::bitset<256> JsonMatcher::NextBytes() const {
  std::bitset<256> out;
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    if (CanFeed(std::string_view(&c, 1))) out.set(b);
  }
  return out;
}

}  // namespace bastion::grammar
