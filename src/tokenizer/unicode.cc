// Unicode helpers: UTF-8 decode/repair, NFC, regex character classes, GPT-2 byte map.
#include "tokenizer/unicode.h"

#include <utf8proc.h>

#include <array>
#include <cstdlib>
#include <memory>

#include "base/check.h"

namespace bastion {

Utf8Step DecodeUtf8Step(std::string_view s) {
  BASTION_CHECK(!s.empty());
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t b0 = byte(0);
  if (b0 < 0x80) return {Utf8Status::kValid, b0, 1};

  // Table 3-7 of the Unicode standard: the lead byte fixes the length and the allowed range of
  // the second byte (this is what excludes overlongs, surrogates and values above U+10FFFF).
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;
  uint32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1Fu;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0Fu;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07u;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {Utf8Status::kInvalid, 0, 1};  // continuation byte, C0/C1 or F5..FF
  }
  for (size_t i = 1; i <= need; ++i) {
    if (i >= s.size()) return {Utf8Status::kIncomplete, 0, s.size()};
    const uint8_t b = byte(i);
    if (b < lo || b > hi) return {Utf8Status::kInvalid, 0, i};
    cp = (cp << 6) | (b & 0x3Fu);
    lo = 0x80;
    hi = 0xBF;
  }
  return {Utf8Status::kValid, cp, need + 1};
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    BASTION_CHECK(cp <= 0x10FFFF);
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const Utf8Step step = DecodeUtf8Step(s.substr(i));
    if (step.status != Utf8Status::kValid) return false;
    i += step.length;
  }
  return true;
}

std::string SanitizeUtf8(std::string_view s) {
  if (IsValidUtf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    const Utf8Step step = DecodeUtf8Step(s.substr(i));
    if (step.status == Utf8Status::kValid) {
      out.append(s.substr(i, step.length));
    } else {
      AppendUtf8(kReplacementChar, &out);  // a truncated tail is one maximal subpart too
    }
    i += step.length;
  }
  return out;
}

std::string NfcNormalize(std::string_view valid_utf8) {
  bool ascii = true;
  for (char c : valid_utf8) {
    if (static_cast<uint8_t>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return std::string(valid_utf8);  // ASCII is always in NFC
  utf8proc_uint8_t* mapped = nullptr;
  // An explicit length (no UTF8PROC_NULLTERM) so that embedded NULs are kept as U+0000.
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(valid_utf8.data()),
                   static_cast<utf8proc_ssize_t>(valid_utf8.size()), &mapped,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  // Input is valid UTF-8 by contract; utf8proc only fails on invalid input or out of memory.
  BASTION_CHECK_MSG(n >= 0, utf8proc_errmsg(n));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(mapped, &std::free);
  return std::string(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
}

namespace {

bool IsWhiteSpace(uint32_t cp) {
  // The Unicode White_Space property (PropList.txt), which Oniguruma's and llama.cpp's `\s` use.
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

CharClass ClassifySlow(uint32_t cp) {
  if (IsWhiteSpace(cp)) return CharClass::kWhitespace;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return CharClass::kLetter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return CharClass::kNumber;
    default:
      return CharClass::kOther;
  }
}

struct Tables {
  std::array<CharClass, 256> latin1_class;
  std::array<uint16_t, 256> byte_to_cp;
  std::array<int16_t, 324> cp_to_byte;  // every image of a byte is below U+0144
};

Tables BuildTables() {
  Tables t{};
  for (uint32_t cp = 0; cp < 256; ++cp) t.latin1_class[cp] = ClassifySlow(cp);
  t.cp_to_byte.fill(-1);
  // GPT-2: printable Latin-1 bytes map to themselves; the other 68 bytes are shifted, in byte
  // order, to U+0100 onwards.
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const uint32_t cp = printable ? b : next++;
    t.byte_to_cp[b] = static_cast<uint16_t>(cp);
    t.cp_to_byte[cp] = static_cast<int16_t>(b);
  }
  BASTION_CHECK(next == 256 + 68);
  return t;
}

const Tables& GetTables() {
  static const Tables tables = BuildTables();
  return tables;
}

}  // namespace

CharClass ClassifyCodePoint(uint32_t cp) {
  if (cp < 256) return GetTables().latin1_class[cp];
  return ClassifySlow(cp);
}

uint32_t ByteToCodePoint(uint8_t byte) { return GetTables().byte_to_cp[byte]; }

int CodePointToByte(uint32_t cp) {
  const Tables& t = GetTables();
  return cp < t.cp_to_byte.size() ? t.cp_to_byte[cp] : -1;
}

std::string BytesToByteLevel(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) AppendUtf8(ByteToCodePoint(static_cast<uint8_t>(c)), &out);
  return out;
}

}  // namespace bastion
