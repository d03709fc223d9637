// GgufFile: parsing of the header, metadata and tensor directory, and the typed getters.
//
// Layout (all little-endian; v2 and v3 are identical on little-endian hosts, v3 only added
// big-endian files; v1 used 32-bit counts and lengths and is rejected):
//   u32 magic "GGUF", u32 version, u64 tensor_count, u64 metadata_kv_count,
//   metadata_kv_count x { string key, u32 value_type, value },
//   tensor_count x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset },
//   padding to `alignment`, then the data section; tensor offsets are relative to its start.
// A string is a u64 byte length and the bytes; an array is u32 element_type, u64 count, elements.
#include "gguf/gguf_reader.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>

namespace bastion {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader copies little-endian values straight from the file");

namespace {

// Smallest possible encodings, used to reject counts the remaining bytes cannot hold before
// anything is allocated for them.
constexpr uint64_t kHeaderBytes = 4 + 4 + 8 + 8;
// Key length, 1-byte key, value type, u8 value.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;
// Name length, 1-byte name, n_dims, one dimension, type, offset.
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;
constexpr size_t kMaxNameInMessage = 64;

// 'name' for error messages: escaped, and cut so a hostile 1 MB name cannot flood a log line.
std::string Quote(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMaxNameInMessage; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMaxNameInMessage) out += "...";
  return out + "'";
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

std::string DataRange(const GgufTensorInfo& t) {
  return "[offset " + std::to_string(t.offset) + ", " + std::to_string(t.size_bytes) + " bytes]";
}

}  // namespace

// A cursor over the mapped bytes plus the parse steps. Every read checks the bytes remaining.
class GgufFile::Parser {
 public:
  explicit Parser(GgufFile& out) : out_(out), data_(out.file_->data()), size_(out.file_->size()) {}

  Status Run() {
    BASTION_RETURN_IF_ERROR(ReadHeader());
    BASTION_RETURN_IF_ERROR(ReadMetadata());
    BASTION_RETURN_IF_ERROR(ReadAlignment());
    BASTION_RETURN_IF_ERROR(ReadTensorInfos());
    return PlaceTensorData();
  }

 private:
  uint64_t remaining() const { return size_ - pos_; }

  Status Need(uint64_t n, const char* what) const {
    if (n <= remaining()) return OkStatus();
    return Error("unexpected end of file reading " + std::string(what) + " at byte " +
                 std::to_string(pos_) + ": need " + std::to_string(n) + " bytes, " +
                 std::to_string(remaining()) + " left (file size " + std::to_string(size_) + ")");
  }

  template <typename T>
  Result<T> Read(const char* what) {
    BASTION_RETURN_IF_ERROR(Need(sizeof(T), what));
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  // A u64 length and that many bytes, as a view into the mapping.
  Result<std::string_view> ReadStringView(const char* what) {
    BASTION_ASSIGN_OR_RETURN(const uint64_t len, Read<uint64_t>(what));
    if (len > remaining()) return StringPastEnd(what, len);
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }

  // For a string whose u64 length (just read) runs past the end of the file.
  Error StringPastEnd(const char* what, uint64_t len) const {
    return Error(std::string(what) + " at byte " + std::to_string(pos_ - 8) + " has length " +
                 std::to_string(len) + ", past end of file (" + std::to_string(remaining()) +
                 " bytes left, file size " + std::to_string(size_) + ")");
  }

  Status ReadHeader() {
    if (size_ < 4) {
      return Error("file is " + std::to_string(size_) + " bytes, too small for a GGUF header (" +
                   std::to_string(kHeaderBytes) + " bytes)");
    }
    BASTION_ASSIGN_OR_RETURN(const uint32_t magic, Read<uint32_t>("magic"));
    if (magic != kGgufMagic) {
      std::string shown;
      for (int i = 0; i < 4; ++i) {
        const char c = static_cast<char>(data_[i]);
        shown += (c >= 0x20 && c < 0x7f) ? c : '?';
      }
      char hex[32];
      std::snprintf(hex, sizeof hex, "%02x %02x %02x %02x", data_[0], data_[1], data_[2], data_[3]);
      return Error("not a GGUF file: magic is '" + shown + "' (bytes " + hex +
                   "), expected 'GGUF'");
    }
    BASTION_ASSIGN_OR_RETURN(const uint32_t version, Read<uint32_t>("version"));
    if (version == 1) {
      return Error(
          "GGUF version 1 is not supported (it used 32-bit counts and lengths); "
          "re-convert the model with a current llama.cpp to get version 3");
    }
    if (version != 2 && version != 3) {
      const uint32_t swapped = __builtin_bswap32(version);
      if (swapped >= 1 && swapped <= 3) {
        return Error("GGUF version field reads " + std::to_string(version) +
                     ": this is a big-endian GGUF file (version " + std::to_string(swapped) +
                     "); only little-endian files are supported");
      }
      return Error("unsupported GGUF version " + std::to_string(version) + ", expected 2 or 3");
    }
    out_.version_ = version;
    BASTION_ASSIGN_OR_RETURN(tensor_count_, Read<uint64_t>("tensor count"));
    BASTION_ASSIGN_OR_RETURN(kv_count_, Read<uint64_t>("metadata key-value count"));
    // Each entry needs a minimum number of bytes, so a count larger than the file can hold is
    // rejected here rather than by a failed allocation or a long loop.
    if (kv_count_ > remaining() / kMinKvBytes) {
      return Error("header: metadata key-value count " + std::to_string(kv_count_) +
                   " cannot fit in the " + std::to_string(remaining()) +
                   " bytes after the header (each entry takes at least " +
                   std::to_string(kMinKvBytes) + " bytes)");
    }
    if (tensor_count_ > remaining() / kMinTensorInfoBytes) {
      return Error("header: tensor count " + std::to_string(tensor_count_) + " cannot fit in the " +
                   std::to_string(remaining()) +
                   " bytes after the header (each tensor info takes at least " +
                   std::to_string(kMinTensorInfoBytes) + " bytes)");
    }
    return OkStatus();
  }

  Status ReadMetadata() {
    out_.keys_.reserve(kv_count_);
    out_.values_.reserve(kv_count_);
    for (uint64_t i = 0; i < kv_count_; ++i) {
      const std::string entry = "metadata entry " + std::to_string(i);
      auto key = ReadStringView("key");
      if (!key.ok()) return key.error().WithContext(entry);
      if (key->empty()) return Error(entry + ": key is empty");
      const std::string ctx = "key " + Quote(*key);
      if (auto it = out_.key_index_.find(*key); it != out_.key_index_.end()) {
        return Error(entry + ": duplicate " + ctx + " (first defined by metadata entry " +
                     std::to_string(it->second) + ")");
      }
      auto type_id = Read<uint32_t>("value type");
      if (!type_id.ok()) return type_id.error().WithContext(ctx);
      if (*type_id >= kGgufValueTypeCount) {
        return Error(ctx + ": unknown value type id " + std::to_string(*type_id) +
                     " (valid ids are 0 to " + std::to_string(kGgufValueTypeCount - 1) + ")");
      }
      auto value = ReadValue(static_cast<GgufValueType>(*type_id), 0);
      if (!value.ok()) return value.error().WithContext(ctx);
      out_.key_index_.emplace(std::string(*key), out_.keys_.size());
      out_.keys_.emplace_back(*key);
      out_.values_.push_back(std::move(value).value());
    }
    return OkStatus();
  }

  Result<GgufValue> ReadValue(GgufValueType type, int depth) {
    switch (type) {
      case GgufValueType::kUint8: return Scalar<uint8_t>();
      case GgufValueType::kInt8: return Scalar<int8_t>();
      case GgufValueType::kUint16: return Scalar<uint16_t>();
      case GgufValueType::kInt16: return Scalar<int16_t>();
      case GgufValueType::kUint32: return Scalar<uint32_t>();
      case GgufValueType::kInt32: return Scalar<int32_t>();
      case GgufValueType::kFloat32: return Scalar<float>();
      case GgufValueType::kUint64: return Scalar<uint64_t>();
      case GgufValueType::kInt64: return Scalar<int64_t>();
      case GgufValueType::kFloat64: return Scalar<double>();
      case GgufValueType::kBool: {
        BASTION_ASSIGN_OR_RETURN(const uint8_t b, Read<uint8_t>("bool value"));
        if (b > 1) return Error("bool value is " + std::to_string(b) + ", expected 0 or 1");
        return GgufValue::Of(b == 1);
      }
      case GgufValueType::kString: {
        BASTION_ASSIGN_OR_RETURN(const std::string_view s, ReadStringView("string value"));
        return GgufValue::Of(std::string(s));
      }
      case GgufValueType::kArray: return ReadArray(depth + 1);
    }
    BASTION_CHECK_MSG(false, "value type id validated by the caller");
    return Error("unreachable");
  }

  template <typename T>
  Result<GgufValue> Scalar() {
    BASTION_ASSIGN_OR_RETURN(const T v, Read<T>("value"));
    return GgufValue::Of(v);
  }

  Result<GgufValue> ReadArray(int depth) {
    if (depth > kGgufMaxArrayDepth) {
      return Error("arrays nested more than " + std::to_string(kGgufMaxArrayDepth) +
                   " deep at byte " + std::to_string(pos_));
    }
    BASTION_ASSIGN_OR_RETURN(const uint32_t elem_id, Read<uint32_t>("array element type"));
    if (elem_id >= kGgufValueTypeCount) {
      return Error("array has unknown element type id " + std::to_string(elem_id) +
                   " (valid ids are 0 to " + std::to_string(kGgufValueTypeCount - 1) + ")");
    }
    const auto elem_type = static_cast<GgufValueType>(elem_id);
    BASTION_ASSIGN_OR_RETURN(const uint64_t count, Read<uint64_t>("array length"));
    // Strings take at least their 8-byte length, nested arrays their 12-byte type and count.
    uint64_t min_elem = GgufScalarSize(elem_type);
    if (elem_type == GgufValueType::kString) min_elem = 8;
    if (elem_type == GgufValueType::kArray) min_elem = 12;
    if (count > remaining() / min_elem) {
      return Error("array of " + std::to_string(count) + " " + GgufValueTypeName(elem_type) +
                   " elements at byte " + std::to_string(pos_ - 12) + " needs at least " +
                   (count > std::numeric_limits<uint64_t>::max() / min_elem
                        ? std::string("2^64")
                        : std::to_string(count * min_elem)) +
                   " bytes, but only " + std::to_string(remaining()) + " are left (file size " +
                   std::to_string(size_) + ")");
    }
    const size_t n = static_cast<size_t>(count);
    switch (elem_type) {
      case GgufValueType::kUint8: return PlainArray<uint8_t>(n);
      case GgufValueType::kInt8: return PlainArray<int8_t>(n);
      case GgufValueType::kUint16: return PlainArray<uint16_t>(n);
      case GgufValueType::kInt16: return PlainArray<int16_t>(n);
      case GgufValueType::kUint32: return PlainArray<uint32_t>(n);
      case GgufValueType::kInt32: return PlainArray<int32_t>(n);
      case GgufValueType::kFloat32: return PlainArray<float>(n);
      case GgufValueType::kUint64: return PlainArray<uint64_t>(n);
      case GgufValueType::kInt64: return PlainArray<int64_t>(n);
      case GgufValueType::kFloat64: return PlainArray<double>(n);
      case GgufValueType::kBool: {
        std::vector<bool> elems(n);
        for (size_t i = 0; i < n; ++i) {
          const uint8_t b = data_[pos_ + i];
          if (b > 1) {
            return Error("bool element " + std::to_string(i) + " is " + std::to_string(b) +
                         ", expected 0 or 1");
          }
          elems[i] = b == 1;
        }
        pos_ += n;
        return GgufValue::ArrayOf(std::move(elems));
      }
      case GgufValueType::kString: {
        // The hot path for vocabularies (150k+ tokens and merges): one reserve, no per-element
        // Result or message building unless something is wrong.
        std::vector<std::string> elems;
        elems.reserve(n);
        for (size_t i = 0; i < n; ++i) {
          uint64_t len;
          if (remaining() < 8) return ElementError(i, Need(8, "string length").error());
          std::memcpy(&len, data_ + pos_, 8);
          pos_ += 8;
          if (len > remaining()) return ElementError(i, StringPastEnd("string", len));
          elems.emplace_back(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
          pos_ += len;
        }
        return GgufValue::ArrayOf(std::move(elems));
      }
      case GgufValueType::kArray: {
        std::vector<GgufValue> elems;
        elems.reserve(n);
        for (size_t i = 0; i < n; ++i) {
          auto v = ReadArray(depth + 1);
          if (!v.ok()) return ElementError(i, v.error());
          elems.push_back(std::move(v).value());
        }
        return GgufValue::ArrayOf(std::move(elems));
      }
    }
    BASTION_CHECK_MSG(false, "element type id validated above");
    return Error("unreachable");
  }

  static Error ElementError(size_t i, const Error& e) {
    return e.WithContext("array element " + std::to_string(i));
  }

  // Fixed-size elements: bounds already checked by the caller (count * size <= remaining).
  template <typename T>
  Result<GgufValue> PlainArray(size_t n) {
    std::vector<T> elems(n);
    if (n > 0) std::memcpy(elems.data(), data_ + pos_, n * sizeof(T));
    pos_ += n * sizeof(T);
    return GgufValue::ArrayOf(std::move(elems));
  }

  Status ReadAlignment() {
    const GgufValue* v = out_.Find(kGgufAlignmentKey);
    if (v == nullptr) return OkStatus();
    const std::string ctx = "key " + Quote(kGgufAlignmentKey);
    // llama.cpp requires exactly uint32 here; accepting more would admit files it rejects.
    const uint32_t* a = v->As<uint32_t>();
    if (a == nullptr) return Error(ctx + ": expected uint32, got " + v->TypeDescription());
    if (*a == 0 || (*a & (*a - 1)) != 0) {
      return Error(ctx + ": alignment " + std::to_string(*a) + " is not a power of two");
    }
    out_.alignment_ = *a;
    return OkStatus();
  }

  Status ReadTensorInfos() {
    out_.tensors_.reserve(tensor_count_);
    for (uint64_t i = 0; i < tensor_count_; ++i) {
      auto t = ReadTensorInfo(i);
      if (!t.ok()) return t.error();
      out_.tensor_index_.emplace(t->name, out_.tensors_.size());
      out_.tensors_.push_back(std::move(t).value());
    }
    return OkStatus();
  }

  Result<GgufTensorInfo> ReadTensorInfo(uint64_t index) {
    GgufTensorInfo t;
    const std::string entry = "tensor " + std::to_string(index);
    auto name = ReadStringView("tensor name");
    if (!name.ok()) return name.error().WithContext(entry);
    if (name->empty()) return Error(entry + ": name is empty");
    if (name->size() > kGgufMaxTensorNameLength) {
      return Error(entry + ": name " + Quote(*name) + " is " + std::to_string(name->size()) +
                   " bytes long, GGML allows at most " + std::to_string(kGgufMaxTensorNameLength));
    }
    t.name = std::string(*name);
    const std::string ctx = "tensor " + Quote(t.name);
    if (auto it = out_.tensor_index_.find(t.name); it != out_.tensor_index_.end()) {
      return Error(entry + ": duplicate name " + Quote(t.name) + " (first used by tensor " +
                   std::to_string(it->second) + ")");
    }

    auto n_dims = Read<uint32_t>("n_dims");
    if (!n_dims.ok()) return n_dims.error().WithContext(ctx);
    if (*n_dims < 1 || *n_dims > static_cast<uint32_t>(kGgufMaxDims)) {
      return Error(ctx + ": has " + std::to_string(*n_dims) + " dimensions, expected 1 to " +
                   std::to_string(kGgufMaxDims));
    }
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < *n_dims; ++d) {
      auto ne = Read<uint64_t>("dimension");
      if (!ne.ok()) return ne.error().WithContext(ctx);
      if (*ne == 0 || *ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Error(ctx + ": dimension " + std::to_string(d) + " is " + std::to_string(*ne) +
                     ", expected 1 to 2^63-1");
      }
      t.shape.push_back(static_cast<int64_t>(*ne));
      if (__builtin_mul_overflow(n_elements, t.shape.back(), &n_elements)) {
        // Finish reading the shape first so the message can show all of it.
        for (uint32_t rest = d + 1; rest < *n_dims; ++rest) {
          auto more = Read<uint64_t>("dimension");
          if (!more.ok()) return more.error().WithContext(ctx);
          t.shape.push_back(static_cast<int64_t>(*more));
        }
        return Error(ctx + ": element count of shape " + ShapeString(t.shape) +
                     " overflows a 64-bit integer");
      }
    }
    t.n_elements = n_elements;

    auto type_id = Read<uint32_t>("type");
    if (!type_id.ok()) return type_id.error().WithContext(ctx);
    const std::optional<TypeInfo> info = LookupType(*type_id);
    if (!info) return Error(ctx + ": unknown GGML type id " + std::to_string(*type_id));
    if (info->block_size <= 0 || info->type_size == 0) {
      return Error(ctx + ": type " + info->name + " (id " + std::to_string(*type_id) +
                   ") is obsolete and has no defined data layout");
    }
    t.type = static_cast<GgmlType>(*type_id);
    const auto block = static_cast<int64_t>(info->block_size);
    if (t.shape[0] % block != 0) {
      return Error(ctx + ": row length (shape[0]) " + std::to_string(t.shape[0]) +
                   " is not a multiple of the " + info->name + " block size " +
                   std::to_string(block) + " (shape " + ShapeString(t.shape) + ")");
    }
    uint64_t size_bytes = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(n_elements / block),
                               static_cast<uint64_t>(info->type_size), &size_bytes) ||
        size_bytes > std::numeric_limits<size_t>::max()) {
      return Error(ctx + ": data size of shape " + ShapeString(t.shape) + " in " + info->name +
                   " overflows a 64-bit integer");
    }
    t.size_bytes = static_cast<size_t>(size_bytes);

    auto offset = Read<uint64_t>("data offset");
    if (!offset.ok()) return offset.error().WithContext(ctx);
    t.offset = *offset;
    return t;
  }

  Status PlaceTensorData() {
    const uint64_t align = out_.alignment_;
    const uint64_t infos_end = pos_;
    // pos_ <= size_ and align <= 2^31, so this cannot overflow.
    const uint64_t data_start = (infos_end + align - 1) / align * align;
    out_.data_offset_ = data_start;
    auto& tensors = out_.tensors_;
    if (tensors.empty()) return OkStatus();  // a file without tensors needs no data section
    if (data_start > size_) {
      return Error("data section starts at byte " + std::to_string(data_start) +
                   " (tensor infos end at byte " + std::to_string(infos_end) + ", alignment " +
                   std::to_string(align) + "), past end of file (size " + std::to_string(size_) +
                   ")");
    }
    const uint64_t data_size = size_ - data_start;
    for (GgufTensorInfo& t : tensors) {
      const std::string ctx = "tensor " + Quote(t.name);
      if (t.offset % align != 0) {
        return Error(ctx + ": data offset " + std::to_string(t.offset) +
                     " is not a multiple of the alignment " + std::to_string(align));
      }
      if (t.offset > data_size || t.size_bytes > data_size - t.offset) {
        const bool overflows =
            t.offset > std::numeric_limits<uint64_t>::max() - data_start ||
            t.offset + data_start > std::numeric_limits<uint64_t>::max() - t.size_bytes;
        const std::string end =
            overflows ? "beyond 2^64"
                      : "at byte " + std::to_string(data_start + t.offset + t.size_bytes);
        return Error(ctx + ": data " + DataRange(t) + " ends " + end + ", past end of file (size " +
                     std::to_string(size_) + ", data section starts at byte " +
                     std::to_string(data_start) + ")");
      }
      t.data = data_ + data_start + t.offset;
    }
    // Overlapping tensors would let a write through one view (or a quantizer's reuse of a
    // buffer) corrupt another; no writer produces them, so they mean a damaged or crafted file.
    std::vector<size_t> order(tensors.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return tensors[a].offset < tensors[b].offset; });
    for (size_t i = 1; i < order.size(); ++i) {
      const GgufTensorInfo& prev = tensors[order[i - 1]];
      const GgufTensorInfo& cur = tensors[order[i]];
      if (prev.offset + prev.size_bytes > cur.offset) {
        return Error("tensors " + Quote(prev.name) + " " + DataRange(prev) + " and " +
                     Quote(cur.name) + " " + DataRange(cur) + " overlap");
      }
    }
    return OkStatus();
  }

  GgufFile& out_;
  const uint8_t* data_;
  const uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t tensor_count_ = 0;
  uint64_t kv_count_ = 0;
};

Result<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path, FileResidency residency) {
  BASTION_ASSIGN_OR_RETURN(auto mapped, MappedFile::Open(path, residency));
  return Parse(std::move(mapped));
}

Result<std::unique_ptr<GgufFile>> GgufFile::Parse(std::unique_ptr<MappedFile> file) {
  BASTION_CHECK(file != nullptr);
  const std::string path = file->path();
  auto gguf = std::unique_ptr<GgufFile>(new GgufFile(std::move(file)));
  Parser parser(*gguf);
  Status status = parser.Run();
  if (!status.ok()) return status.error().WithContext(path);
  return gguf;
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &values_[it->second];
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Result<const GgufValue*> GgufFile::Require(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Error("key " + Quote(key) + " not found");
  return v;
}

Result<uint64_t> GgufFile::GetUint(std::string_view key) const {
  BASTION_ASSIGN_OR_RETURN(const GgufValue* v, Require(key));
  uint64_t out = 0;
  if (v->ToUint64(&out)) return out;
  int64_t negative = 0;
  if (v->ToInt64(&negative)) {
    return Error("key " + Quote(key) + ": expected a non-negative integer, got " +
                 v->TypeDescription() + " " + std::to_string(negative));
  }
  return Error("key " + Quote(key) + ": expected an unsigned integer, got " + v->TypeDescription());
}

Result<uint32_t> GgufFile::GetUint32(std::string_view key) const {
  BASTION_ASSIGN_OR_RETURN(const uint64_t v, GetUint(key));
  if (v > std::numeric_limits<uint32_t>::max()) {
    return Error("key " + Quote(key) + ": value " + std::to_string(v) + " does not fit in uint32");
  }
  return static_cast<uint32_t>(v);
}

Result<int64_t> GgufFile::GetInt(std::string_view key) const {
  BASTION_ASSIGN_OR_RETURN(const GgufValue* v, Require(key));
  int64_t out = 0;
  if (v->ToInt64(&out)) return out;
  if (v->is_integer()) {
    return Error("key " + Quote(key) + ": value " + std::to_string(*v->As<uint64_t>()) +
                 " does not fit in int64");
  }
  return Error("key " + Quote(key) + ": expected an integer, got " + v->TypeDescription());
}

Result<float> GgufFile::GetFloat(std::string_view key) const {
  BASTION_ASSIGN_OR_RETURN(const GgufValue* v, Require(key));
  if (const float* f = v->As<float>()) return *f;
  if (const double* d = v->As<double>()) return static_cast<float>(*d);
  if (int64_t i = 0; v->ToInt64(&i)) return static_cast<float>(i);
  if (uint64_t u = 0; v->ToUint64(&u)) return static_cast<float>(u);
  return Error("key " + Quote(key) + ": expected float32, got " + v->TypeDescription());
}

Result<bool> GgufFile::GetBool(std::string_view key) const {
  BASTION_ASSIGN_OR_RETURN(const GgufValue* v, Require(key));
  if (const bool* b = v->As<bool>()) return *b;
  return Error("key " + Quote(key) + ": expected bool, got " + v->TypeDescription());
}

Result<std::string> GgufFile::GetString(std::string_view key) const {
  BASTION_ASSIGN_OR_RETURN(const GgufValue* v, Require(key));
  if (const std::string* s = v->As<std::string>()) return *s;
  return Error("key " + Quote(key) + ": expected string, got " + v->TypeDescription());
}

namespace {
template <typename T>
Result<std::span<const T>> ArraySpan(const GgufValue& v, std::string_view key,
                                     GgufValueType expected) {
  if (const std::vector<T>* vec = v.ArrayAs<T>()) return std::span<const T>(*vec);
  return Error("key " + Quote(key) + ": expected array[" + GgufValueTypeName(expected) + "], got " +
               v.TypeDescription());
}
}  // namespace

Result<std::span<const std::string>> GgufFile::GetStringArray(std::string_view key) const {
  BASTION_ASSIGN_OR_RETURN(const GgufValue* v, Require(key));
  return ArraySpan<std::string>(*v, key, GgufValueType::kString);
}

Result<std::span<const int32_t>> GgufFile::GetInt32Array(std::string_view key) const {
  BASTION_ASSIGN_OR_RETURN(const GgufValue* v, Require(key));
  return ArraySpan<int32_t>(*v, key, GgufValueType::kInt32);
}

Result<std::span<const float>> GgufFile::GetFloatArray(std::string_view key) const {
  BASTION_ASSIGN_OR_RETURN(const GgufValue* v, Require(key));
  return ArraySpan<float>(*v, key, GgufValueType::kFloat32);
}

std::string GgufFile::DescribeValue(std::string_view key, size_t max_chars) const {
  const GgufValue* v = Find(key);
  return v == nullptr ? "<missing>" : v->Describe(max_chars);
}

}  // namespace bastion
