// The matcher's strings and objects: the string decoder (escapes, \uXXXX with surrogate pairs,
// UTF-8 validity, code point counts for minLength/maxLength) shared by string values and object
// keys, and object structure: which keys may start, be typed and close (listed keys by a sorted
// range narrowed per decoded byte, unlisted ones remembered by hash), required keys and
// min/maxProperties budgets. Frame layouts are documented in json_matcher.cc.
#include <algorithm>
#include <utility>

#include "grammar/json_matcher_internal.h"

namespace bastion::grammar::matcher_internal {

// ---- objects ----

bool Stepper::CanClose(const Frame& obj) const {
  const Node& n = g_.nodes[obj.node];
  return obj.lo == n.n_required && obj.count >= n.min_properties;
}

// May an optional key be added and still leave room (maxProperties) for the missing required?
bool Stepper::BudgetOk(const Frame& obj) const {
  const Node& n = g_.nodes[obj.node];
  return uint64_t{obj.count} + 1 + (n.n_required - obj.lo) <= n.max_properties;
}

bool Stepper::CanAddKey(const Stack& st) const {
  const Frame& obj = st.back();
  const Node& n = g_.nodes[obj.node];
  if (obj.count >= n.max_properties) return false;
  // Room for the key's frame, then its record (unlisted keys) and at least a scalar value, so
  // that near the frame cap a ',' is not offered that could lead nowhere.
  if (st.size() + 2 > JsonMatcher::kMaxFrames) return false;
  if (obj.lo < n.n_required) return true;  // a missing required key always fits
  if (!BudgetOk(obj)) return false;
  if (n.additional != kNoNode) return true;
  return AnyEligible(st, st.size() - 1, kKeyBudget, 0, static_cast<uint32_t>(n.properties.size()));
}

bool Stepper::Eligible(const Stack& st, size_t obj, uint8_t key_flags, uint32_t i) const {
  const JsonGrammar::Property& p = g_.nodes[st[obj].node].properties[i];
  return p.node != kNoNode && !Seen(st, obj, i) && (p.required || (key_flags & kKeyBudget));
}

bool Stepper::AnyEligible(const Stack& st, size_t obj, uint8_t key_flags, uint32_t lo, uint32_t hi) const {
  for (uint32_t i = lo; i < hi; ++i) {
    if (Eligible(st, obj, key_flags, i)) return true;
  }
  return false;
}

Outcome Stepper::ObjectByte(Stack& st, uint8_t b, uint32_t* fork, bool* took_ws) const {
  Frame& f = st.back();
  if (IsWs(b)) return TakeWs(st, b, took_ws) ? Outcome::kAlive : Outcome::kDead;
  bool ok = false;
  switch (f.phase) {
    case kObjOpen:
    case kObjNeedKey:
      if (b == '}' && f.phase == kObjOpen && CanClose(f)) {
        PopObject(st);
        return Outcome::kAlive;
      }
      if (b == '"' && CanAddKey(st)) {
        const Node& n = g_.nodes[f.node];
        Frame key{.node = f.node, .kind = kKey, .phase = kStrNormal};
        const bool budget = BudgetOk(f);
        key.flags = (budget ? kKeyBudget : 0) | (budget && n.additional != kNoNode ? kKeyOpen : 0);
        key.hi = static_cast<uint32_t>(n.properties.size());
        key.bits = kFnvOffset;
        st.push_back(key);
        return Outcome::kAlive;
      }
      break;
    case kObjAfterKey:
      if (b == ':') f.phase = kObjNeedValue, ok = true;
      break;
    case kObjNeedValue: {
      f.phase = kObjAfterValue;
      const uint32_t value_node = f.aux;
      return StartValue(st, value_node, b, fork);  // f may dangle from here on
    }
    case kObjAfterValue:
      if (b == ',' && CanAddKey(st)) {
        f.phase = kObjNeedKey;
        ok = true;
      } else if (b == '}' && CanClose(f)) {
        PopObject(st);
        ok = true;
      }
      break;
  }
  return ok ? Outcome::kAlive : Outcome::kDead;
}

bool Stepper::KeyByte(Stack& st, uint8_t d) const {
  Frame& k = st.back();
  const auto& props = g_.nodes[k.node].properties;
  NarrowRange([&](uint32_t i) -> const std::string& { return props[i].key; }, k.count, d, &k.lo, &k.hi);
  ++k.count;
  k.bits = (k.bits ^ d) * kFnvPrime;
  return (k.flags & kKeyOpen) || AnyEligible(st, st.size() - 2, k.flags, k.lo, k.hi);
}

bool Stepper::KeyCodePoint(Stack& st, uint32_t cp) const {
  uint8_t buf[4];
  int len;
  if (cp < 0x80) {
    buf[0] = static_cast<uint8_t>(cp), len = 1;
  } else if (cp < 0x800) {
    buf[0] = static_cast<uint8_t>(0xC0 | (cp >> 6)), buf[1] = static_cast<uint8_t>(0x80 | (cp & 0x3F)), len = 2;
  } else if (cp < 0x10000) {
    buf[0] = static_cast<uint8_t>(0xE0 | (cp >> 12)), buf[1] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
    buf[2] = static_cast<uint8_t>(0x80 | (cp & 0x3F)), len = 3;
  } else {
    buf[0] = static_cast<uint8_t>(0xF0 | (cp >> 18)), buf[1] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F)), buf[3] = static_cast<uint8_t>(0x80 | (cp & 0x3F)), len = 4;
  }
  for (int i = 0; i < len; ++i) {
    if (!KeyByte(st, buf[i])) return false;
  }
  return true;
}

// Where only listed keys may follow, a backslash is allowed only if some short escape continues
// an eligible key (otherwise it would lead nowhere).
bool Stepper::KeyEscapePossible(const Stack& st) const {
  const Frame& k = st.back();
  const auto& props = g_.nodes[k.node].properties;
  for (uint8_t d : {'"', '\\', '/', '\b', '\f', '\n', '\r', '\t'}) {
    uint32_t lo = k.lo, hi = k.hi;
    NarrowRange([&](uint32_t i) -> const std::string& { return props[i].key; }, k.count, d, &lo, &hi);
    if (AnyEligible(st, st.size() - 2, k.flags, lo, hi)) return true;
  }
  return false;
}

bool Stepper::CloseKey(Stack& st) const {
  const Frame& k = st.back();
  const size_t obj = st.size() - 2;
  const Node& n = g_.nodes[k.node];
  uint32_t value_node = n.additional;
  const uint64_t hash = k.bits;
  bool record = false;
  if (k.lo < k.hi && n.properties[k.lo].key.size() == k.count) {
    // A listed key: its own schema applies (never additionalProperties), once.
    const uint32_t i = k.lo;
    if (!Eligible(st, obj, k.flags, i)) return false;
    st[SeenFrame(st, obj, i)].bits |= uint64_t{1} << (i % 64);
    if (n.properties[i].required) ++st[obj].lo;
    value_node = n.properties[i].node;
  } else {
    if (!(k.flags & kKeyOpen)) return false;
    // An unlisted key, also once (a 64-bit hash stands for it: a collision could only refuse a
    // new key, never admit a duplicate).
    for (uint32_t r = 1; r <= st[obj].hi; ++r) {
      if (st[obj - r].bits == hash) return false;
    }
    record = true;
  }
  st.pop_back();  // the key; the object is on top again
  if (record) {
    st.insert(st.end() - 1, Frame{.kind = kKeyRecord, .bits = hash});
    ++st.back().hi;
  }
  Frame& o = st.back();
  ++o.count;
  o.aux = value_node;
  o.phase = kObjAfterKey;
  return true;
}

// ---- strings ----

bool Stepper::BeginCodePoint(Frame& f) const {
  if (f.kind != kString) return true;
  if (f.count >= g_.nodes[f.node].max_length) return false;
  ++f.count;
  return true;
}

bool Stepper::StringByte(Stack& st, uint8_t b) const {
  Frame& f = st.back();
  const bool closed_key = f.kind == kKey && !(f.flags & kKeyOpen);
  switch (f.phase) {
    case kStrNormal: {
      if (f.small > 0) {  // inside a multi-byte UTF-8 sequence
        if (b < (f.aux & 0xFF) || b > (f.aux >> 8)) return false;
        --f.small;
        f.aux = kContinuationRange;
        return DecodedByte(st, b);
      }
      if (b == '"') {
        if (f.kind == kKey) return CloseKey(st);
        if (f.count < g_.nodes[f.node].min_length) return false;
        st.pop_back();
        return true;
      }
      if (b < 0x20) return false;
      if (b == '\\') {
        if (closed_key && !KeyEscapePossible(st)) return false;
        if (!BeginCodePoint(f)) return false;
        f.phase = kStrEscape;
        return true;
      }
      if (b < 0x80) return BeginCodePoint(f) && DecodedByte(st, b);
      // UTF-8 lead byte: how many continuation bytes, and the range allowed for the first one
      // (which excludes overlong forms, surrogates and code points above U+10FFFF).
      uint8_t more;
      uint32_t range = kContinuationRange;
      if (b >= 0xC2 && b <= 0xDF) {
        more = 1;
      } else if (b >= 0xE0 && b <= 0xEF) {
        more = 2;
        if (b == 0xE0) range = 0xA0 | (0xBF << 8);
        if (b == 0xED) range = 0x80 | (0x9F << 8);
      } else if (b >= 0xF0 && b <= 0xF4) {
        more = 3;
        if (b == 0xF0) range = 0x90 | (0xBF << 8);
        if (b == 0xF4) range = 0x80 | (0x8F << 8);
      } else {
        return false;
      }
      if (!BeginCodePoint(f)) return false;
      f.small = more;
      f.aux = range;
      return DecodedByte(st, b);
    }
    case kStrEscape: {
      uint8_t d;
      switch (b) {
        case '"': case '\\': case '/': d = b; break;
        case 'b': d = '\b'; break;
        case 'f': d = '\f'; break;
        case 'n': d = '\n'; break;
        case 'r': d = '\r'; break;
        case 't': d = '\t'; break;
        case 'u':
          if (closed_key) return false;
          f.phase = kStrHex0;
          f.aux = 0;
          return true;
        default:
          return false;
      }
      f.phase = kStrNormal;
      return DecodedByte(st, d);
    }
    case kStrHex0: case kStrHex1: case kStrHex2: case kStrHex3: {
      const int h = HexValue(b);
      if (h < 0) return false;
      f.aux = f.aux * 16 + static_cast<uint32_t>(h);
      if (f.phase == kStrHex1 && f.aux >= 0xDC && f.aux <= 0xDF) return false;  // lone low surrogate
      if (f.phase != kStrHex3) {
        ++f.phase;
        return true;
      }
      if (f.aux >= 0xD800 && f.aux <= 0xDBFF) {  // high surrogate: a low one must follow
        f.aux <<= 16;
        f.phase = kStrNeedBackslash;
        return true;
      }
      f.phase = kStrNormal;
      return f.kind == kKey ? KeyCodePoint(st, f.aux) : true;
    }
    case kStrNeedBackslash:
      if (b != '\\') return false;
      f.phase = kStrNeedU;
      return true;
    case kStrNeedU:
      if (b != 'u') return false;
      f.phase = kStrLowHex0;
      return true;
    case kStrLowHex0: case kStrLowHex1: case kStrLowHex2: case kStrLowHex3: {
      const int h = HexValue(b);
      if (h < 0) return false;
      if (f.phase == kStrLowHex0 && h != 0xD) return false;
      if (f.phase == kStrLowHex1 && h < 0xC) return false;
      f.aux = (f.aux & 0xFFFF0000u) | ((f.aux & 0xFFFF) * 16 + static_cast<uint32_t>(h));
      if (f.phase != kStrLowHex3) {
        ++f.phase;
        return true;
      }
      const uint32_t high = f.aux >> 16, low = f.aux & 0xFFFF;
      f.phase = kStrNormal;
      return f.kind == kKey ? KeyCodePoint(st, 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)) : true;
    }
  }
  return false;
}

}  // namespace bastion::grammar::matcher_internal
