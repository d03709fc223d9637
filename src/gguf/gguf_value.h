// GGUF metadata values: the value-type ids of the format, GgufValue (a scalar, a string or an
// array, arrays possibly nested) and the format constants that the reader and writer share.
//
// Arrays are stored compactly as one std::vector of the element type (std::vector<std::string>
// for strings, std::vector<GgufValue> for nested arrays) so that a 151936-token vocabulary is one
// vector, and callers can take a std::span over it without copying.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "base/check.h"

namespace bastion {

// Value-type ids as stored in the file (u32). The numbering is the format's; gaps are not allowed.
enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

inline constexpr uint32_t kGgufValueTypeCount = 13;

// Format constants.
inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kGgufVersion = 3;         // what the writer produces
inline constexpr size_t kGgufDefaultAlignment = 32;
inline constexpr std::string_view kGgufAlignmentKey = "general.alignment";
inline constexpr int kGgufMaxDims = 4;  // GGML_MAX_DIMS
// llama.cpp keeps tensor names in a char[64] (GGML_MAX_NAME), so longer names cannot load there.
inline constexpr size_t kGgufMaxTensorNameLength = 63;
// Nesting limit for arrays of arrays: real files never nest (llama.cpp cannot read nested
// arrays at all); the limit keeps a hostile file from recursing the reader's stack away.
inline constexpr int kGgufMaxArrayDepth = 8;

// "uint32", "string", "array", ...; "type 42" for ids outside the format.
std::string GgufValueTypeName(uint32_t type_id);
inline std::string GgufValueTypeName(GgufValueType type) {
  return GgufValueTypeName(static_cast<uint32_t>(type));
}

// Bytes a scalar of this type takes in the file; 0 for STRING and ARRAY (variable length).
size_t GgufScalarSize(GgufValueType type);

class GgufValue;

// The elements of an array value. The variant's index equals the element's GgufValueType id, so
// the element type is never stored twice and can never disagree with the storage.
using GgufArrayElements =
    std::variant<std::vector<uint8_t>, std::vector<int8_t>, std::vector<uint16_t>,
                 std::vector<int16_t>, std::vector<uint32_t>, std::vector<int32_t>,
                 std::vector<float>, std::vector<bool>, std::vector<std::string>,
                 std::vector<GgufValue>, std::vector<uint64_t>, std::vector<int64_t>,
                 std::vector<double>>;

// A metadata value. Immutable once built; copies share array storage (arrays can be megabytes).
class GgufValue {
 public:
  // Scalar storage; as with arrays, the index equals the GgufValueType id (index 9 is an array).
  using Scalar =
      std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool, std::string,
                   std::shared_ptr<const GgufArrayElements>, uint64_t, int64_t, double>;

  GgufValue() : data_(uint8_t{0}) {}

  // A scalar or string: GgufValue::Of(uint32_t{5}), GgufValue::Of(std::string("qwen2")).
  // The C++ type picks the GGUF type, so spell integer literals with their exact type.
  template <typename T>
  static GgufValue Of(T value) {
    static_assert(kIsScalar<T>, "not a GGUF scalar type");
    GgufValue v;
    v.data_ = Scalar(std::in_place_type<T>, std::move(value));
    return v;
  }
  static GgufValue Of(const char* value) { return Of(std::string(value)); }

  // An array: GgufValue::ArrayOf(std::vector<int32_t>{1, 2}); nested arrays are
  // ArrayOf(std::vector<GgufValue>{...}) whose elements are themselves arrays.
  template <typename T>
  static GgufValue ArrayOf(std::vector<T> elements) {
    return FromElements(GgufArrayElements(std::in_place_type<std::vector<T>>, std::move(elements)));
  }
  static GgufValue FromElements(GgufArrayElements elements);

  GgufValueType type() const { return static_cast<GgufValueType>(data_.index()); }
  bool is_array() const { return type() == GgufValueType::kArray; }
  bool is_integer() const;

  // The exact scalar, or nullptr when the value has another type.
  template <typename T>
  const T* As() const {
    return std::get_if<T>(&data_);
  }

  // Arrays only (CHECKed): element type, element count, the elements.
  GgufValueType element_type() const { return static_cast<GgufValueType>(elements().index()); }
  size_t array_size() const;
  const GgufArrayElements& elements() const;

  // The array's elements if they are exactly of type T, else nullptr (also for non-arrays).
  template <typename T>
  const std::vector<T>* ArrayAs() const {
    if (!is_array()) return nullptr;
    return std::get_if<std::vector<T>>(&elements());
  }

  // Integer values of any integer type, if they are representable in the result type.
  bool ToUint64(uint64_t* out) const;
  bool ToInt64(int64_t* out) const;

  // "uint32 2", "string \"qwen2\"", "array[string] (151936) [\"!\", \"\\\"\", ...]": a
  // one-line summary for `bastion show` and error messages, cut to about max_chars.
  std::string Describe(size_t max_chars) const;
  // "uint32", "string", "array[int32]", "array[array]": the type as errors name it.
  std::string TypeDescription() const;

  // Structural equality; floats compare by bit pattern so NaN payloads round-trip in tests.
  bool operator==(const GgufValue& other) const;

 private:
  template <typename T>
  static constexpr bool kIsScalar =
      std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t> || std::is_same_v<T, uint16_t> ||
      std::is_same_v<T, int16_t> || std::is_same_v<T, uint32_t> || std::is_same_v<T, int32_t> ||
      std::is_same_v<T, float> || std::is_same_v<T, bool> || std::is_same_v<T, std::string> ||
      std::is_same_v<T, uint64_t> || std::is_same_v<T, int64_t> || std::is_same_v<T, double>;

  Scalar data_;
};

}  // namespace bastion
