// GgufValue: type names, integer conversion, one-line descriptions and equality.
#include "gguf/gguf_value.h"

#include <array>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <limits>

namespace bastion {
namespace {

constexpr std::array<const char*, kGgufValueTypeCount> kTypeNames = {
    "uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
    "bool",  "string", "array",  "uint64", "int64",  "float64"};

// Appends `s` quoted, escaping what would break a one-line display; stops once `out` reaches
// `limit` characters so a 6 KB chat template is not copied just to be cut.
void AppendQuoted(std::string& out, std::string_view s, size_t limit) {
  out += '"';
  for (const char c : s) {
    if (out.size() >= limit) break;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;  // UTF-8 bytes pass through: token strings should stay readable
        }
    }
  }
  out += '"';
}

std::string FormatDouble(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Appends one element or scalar (without its type name).
template <typename T>
void AppendPlain(std::string& out, const T& v, size_t limit) {
  if constexpr (std::is_same_v<T, std::string>) {
    AppendQuoted(out, v, limit);
  } else if constexpr (std::is_same_v<T, bool>) {
    out += v ? "true" : "false";
  } else if constexpr (std::is_floating_point_v<T>) {
    out += FormatDouble(static_cast<double>(v));
  } else if constexpr (std::is_same_v<T, GgufValue>) {
    out += v.Describe(limit > out.size() ? limit - out.size() : 0);
  } else if constexpr (std::is_signed_v<T>) {
    out += std::to_string(static_cast<int64_t>(v));
  } else {
    out += std::to_string(static_cast<uint64_t>(v));
  }
}

template <typename T>
bool SameElement(const T& a, const T& b) {
  if constexpr (std::is_same_v<T, float>) {
    return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
  } else if constexpr (std::is_same_v<T, double>) {
    return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
  } else {
    return a == b;
  }
}

}  // namespace

std::string GgufValueTypeName(uint32_t type_id) {
  if (type_id < kTypeNames.size()) return kTypeNames[type_id];
  return "type " + std::to_string(type_id);
}

size_t GgufScalarSize(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool: return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16: return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32: return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64: return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray: return 0;
  }
  return 0;
}

GgufValue GgufValue::FromElements(GgufArrayElements elements) {
  // The format has no place for a scalar inside an array of arrays: each element of an
  // ARRAY-typed array is written as an element type, a count and elements.
  if (const auto* nested = std::get_if<std::vector<GgufValue>>(&elements)) {
    for (const GgufValue& e : *nested)
      BASTION_CHECK_MSG(e.is_array(), "nested array element is not an array");
  }
  GgufValue v;
  v.data_ = Scalar(std::in_place_index<static_cast<size_t>(GgufValueType::kArray)>,
                   std::make_shared<const GgufArrayElements>(std::move(elements)));
  return v;
}

bool GgufValue::is_integer() const {
  switch (type()) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kUint64:
    case GgufValueType::kInt64: return true;
    default: return false;
  }
}

const GgufArrayElements& GgufValue::elements() const {
  BASTION_CHECK_MSG(is_array(), "GgufValue::elements() on a non-array");
  const auto& ptr = std::get<static_cast<size_t>(GgufValueType::kArray)>(data_);
  BASTION_CHECK(ptr != nullptr);
  return *ptr;
}

size_t GgufValue::array_size() const {
  return std::visit([](const auto& vec) { return vec.size(); }, elements());
}

bool GgufValue::ToUint64(uint64_t* out) const {
  return std::visit(
      [out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_signed_v<T>) {
            if (v < 0) return false;
          }
          *out = static_cast<uint64_t>(v);
          return true;
        } else {
          return false;
        }
      },
      data_);
}

bool GgufValue::ToInt64(int64_t* out) const {
  return std::visit(
      [out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_same_v<T, uint64_t>) {
            if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
          }
          *out = static_cast<int64_t>(v);
          return true;
        } else {
          return false;
        }
      },
      data_);
}

std::string GgufValue::TypeDescription() const {
  if (!is_array()) return GgufValueTypeName(type());
  return "array[" + GgufValueTypeName(element_type()) + "]";
}

std::string GgufValue::Describe(size_t max_chars) const {
  // Build a little past the limit, then cut once, so every branch can append freely.
  const size_t limit = max_chars + 1;
  std::string out = TypeDescription();
  if (is_array()) {
    out += " (" + std::to_string(array_size()) + ") [";
    std::visit(
        [&](const auto& vec) {
          for (size_t i = 0; i < vec.size(); ++i) {
            if (out.size() >= limit) {
              out += "...";
              break;
            }
            if (i > 0) out += ", ";
            AppendPlain(out, vec[i], limit);
          }
        },
        elements());
    out += ']';
  } else {
    out += ' ';
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (!std::is_same_v<T, std::shared_ptr<const GgufArrayElements>>) {
            AppendPlain(out, v, limit);
          }
        },
        data_);
  }
  if (out.size() > max_chars) {
    out.resize(max_chars >= 3 ? max_chars - 3 : 0);
    out += "...";
  }
  return out;
}

bool GgufValue::operator==(const GgufValue& other) const {
  if (data_.index() != other.data_.index()) return false;
  if (is_array()) {
    const GgufArrayElements& a = elements();
    const GgufArrayElements& b = other.elements();
    if (a.index() != b.index()) return false;
    return std::visit(
        [&b](const auto& va) {
          using Vec = std::decay_t<decltype(va)>;
          const Vec& vb = std::get<Vec>(b);
          if (va.size() != vb.size()) return false;
          for (size_t i = 0; i < va.size(); ++i) {
            if (!SameElement<typename Vec::value_type>(va[i], vb[i])) return false;
          }
          return true;
        },
        a);
  }
  return std::visit(
      [&other](const auto& va) {
        using T = std::decay_t<decltype(va)>;
        if constexpr (std::is_same_v<T, std::shared_ptr<const GgufArrayElements>>) {
          return false;  // unreachable: arrays handled above
        } else {
          return SameElement<T>(va, std::get<T>(other.data_));
        }
      },
      data_);
}

}  // namespace bastion
