// GgufWriter: serialization of metadata and tensor infos, tensor data layout, atomic file write.
#include "gguf/gguf_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>

#include "base/check.h"

namespace bastion {

static_assert(std::endian::native == std::endian::little,
              "the GGUF writer stores values in host byte order");

namespace {

size_t PadTo(size_t n, size_t align) { return (n + align - 1) / align * align; }

template <typename T>
void AppendRaw(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

void AppendString(std::string& out, std::string_view s) {
  AppendRaw<uint64_t>(out, s.size());
  out.append(s);
}

void AppendArrayBody(std::string& out, const GgufValue& array, int depth);

// The value's payload (its type id is written by the caller).
void AppendPayload(std::string& out, const GgufValue& v, int depth) {
  if (v.is_array()) {
    AppendArrayBody(out, v, depth + 1);
    return;
  }
  if (const std::string* s = v.As<std::string>()) {
    AppendString(out, *s);
  } else if (const bool* b = v.As<bool>()) {
    AppendRaw<uint8_t>(out, *b ? 1 : 0);
  } else if (const auto* p = v.As<uint8_t>()) {
    AppendRaw(out, *p);
  } else if (const auto* p = v.As<int8_t>()) {
    AppendRaw(out, *p);
  } else if (const auto* p = v.As<uint16_t>()) {
    AppendRaw(out, *p);
  } else if (const auto* p = v.As<int16_t>()) {
    AppendRaw(out, *p);
  } else if (const auto* p = v.As<uint32_t>()) {
    AppendRaw(out, *p);
  } else if (const auto* p = v.As<int32_t>()) {
    AppendRaw(out, *p);
  } else if (const auto* p = v.As<float>()) {
    AppendRaw(out, *p);
  } else if (const auto* p = v.As<uint64_t>()) {
    AppendRaw(out, *p);
  } else if (const auto* p = v.As<int64_t>()) {
    AppendRaw(out, *p);
  } else if (const auto* p = v.As<double>()) {
    AppendRaw(out, *p);
  } else {
    BASTION_CHECK_MSG(false, "unhandled GGUF value type");
  }
}

// Element type, count and elements of an array.
void AppendArrayBody(std::string& out, const GgufValue& array, int depth) {
  // Readers (ours included) refuse deeper nesting; writing it would make an unreadable file.
  BASTION_CHECK_MSG(depth <= kGgufMaxArrayDepth, "GGUF arrays nested too deep");
  AppendRaw<uint32_t>(out, static_cast<uint32_t>(array.element_type()));
  AppendRaw<uint64_t>(out, array.array_size());
  std::visit(
      [&](const auto& vec) {
        using T = typename std::decay_t<decltype(vec)>::value_type;
        if constexpr (std::is_same_v<T, std::string>) {
          for (const std::string& s : vec) AppendString(out, s);
        } else if constexpr (std::is_same_v<T, bool>) {
          for (const bool b : vec) AppendRaw<uint8_t>(out, b ? 1 : 0);
        } else if constexpr (std::is_same_v<T, GgufValue>) {
          for (const GgufValue& e : vec) AppendArrayBody(out, e, depth + 1);
        } else {
          out.append(reinterpret_cast<const char*>(vec.data()), vec.size() * sizeof(T));
        }
      },
      array.elements());
}

std::string ErrnoText(int err) { return std::strerror(err); }

}  // namespace

namespace {

Status WriteAll(int fd, const std::string& path, std::span<const uint8_t> bytes) {
  const uint8_t* data = bytes.data();
  size_t n = bytes.size();
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Error("writing " + path + ": " + ErrnoText(errno));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return OkStatus();
}

}  // namespace

void GgufWriter::Set(std::string_view key, GgufValue value) {
  BASTION_CHECK_MSG(!key.empty(), "GGUF metadata key is empty");
  if (key == kGgufAlignmentKey) {
    const uint32_t* a = value.As<uint32_t>();
    BASTION_CHECK_MSG(a != nullptr, "general.alignment must be a uint32");
    SetAlignment(*a);
    return;
  }
  auto it = std::find(keys_.begin(), keys_.end(), key);
  if (it != keys_.end()) {
    values_[static_cast<size_t>(it - keys_.begin())] = std::move(value);
    return;
  }
  keys_.emplace_back(key);
  values_.push_back(std::move(value));
}

void GgufWriter::Remove(std::string_view key) {
  auto it = std::find(keys_.begin(), keys_.end(), key);
  if (it == keys_.end()) return;
  const auto i = it - keys_.begin();
  keys_.erase(it);
  values_.erase(values_.begin() + i);
}

void GgufWriter::SetAlignment(size_t alignment) {
  BASTION_CHECK_MSG(alignment > 0 && (alignment & (alignment - 1)) == 0 &&
                        alignment <= std::numeric_limits<uint32_t>::max(),
                    "GGUF alignment must be a power of two that fits in uint32");
  alignment_ = alignment;
  const std::string_view key = kGgufAlignmentKey;
  if (alignment == kGgufDefaultAlignment) {
    Remove(key);
    return;
  }
  const GgufValue value = GgufValue::Of(static_cast<uint32_t>(alignment));
  auto it = std::find(keys_.begin(), keys_.end(), key);
  if (it != keys_.end()) {
    values_[static_cast<size_t>(it - keys_.begin())] = value;
  } else {
    keys_.emplace_back(key);
    values_.push_back(value);
  }
}

size_t GgufWriter::TensorBytes(GgmlType type, std::span<const int64_t> shape) {
  const std::optional<TypeInfo> info = LookupType(static_cast<uint32_t>(type));
  BASTION_CHECK_MSG(info && info->block_size > 0, "tensor type has no data layout");
  BASTION_CHECK_MSG(!shape.empty() && shape.size() <= static_cast<size_t>(kGgufMaxDims),
                    "tensor must have 1 to 4 dimensions");
  int64_t n = 1;
  for (const int64_t d : shape) {
    BASTION_CHECK_MSG(d >= 1, "tensor dimensions must be >= 1");
    BASTION_CHECK_MSG(!__builtin_mul_overflow(n, d, &n), "tensor element count overflows");
  }
  BASTION_CHECK_MSG(shape[0] % info->block_size == 0,
                    "tensor row length must be a multiple of the type's block size");
  size_t bytes = 0;
  BASTION_CHECK(
      !__builtin_mul_overflow(static_cast<size_t>(n / info->block_size), info->type_size, &bytes));
  return bytes;
}

void GgufWriter::AddTensor(std::string name, GgmlType type, std::vector<int64_t> shape,
                           std::vector<uint8_t> data) {
  const size_t size = TensorBytes(type, shape);
  BASTION_CHECK_MSG(data.size() == size, "tensor data size does not match its type and shape");
  AddTensorImpl(Tensor{std::move(name), type, std::move(shape), size, std::move(data), nullptr});
}

void GgufWriter::AddTensorFrom(std::string name, GgmlType type, std::vector<int64_t> shape,
                               TensorProducer producer) {
  BASTION_CHECK(producer != nullptr);
  const size_t size = TensorBytes(type, shape);
  AddTensorImpl(Tensor{std::move(name), type, std::move(shape), size, {}, std::move(producer)});
}

void GgufWriter::AddTensorImpl(Tensor tensor) {
  BASTION_CHECK_MSG(!tensor.name.empty() && tensor.name.size() <= kGgufMaxTensorNameLength,
                    "tensor name must be 1 to 63 bytes (GGML_MAX_NAME)");
  BASTION_CHECK_MSG(!tensor_index_.contains(tensor.name), "duplicate tensor name");
  tensor_index_.emplace(tensor.name, tensors_.size());
  tensors_.push_back(std::move(tensor));
}

std::string GgufWriter::SerializeHeader() const {
  std::string out;
  AppendRaw<uint32_t>(out, kGgufMagic);
  AppendRaw<uint32_t>(out, kGgufVersion);
  AppendRaw<uint64_t>(out, tensors_.size());
  AppendRaw<uint64_t>(out, keys_.size());
  for (size_t i = 0; i < keys_.size(); ++i) {
    AppendString(out, keys_[i]);
    AppendRaw<uint32_t>(out, static_cast<uint32_t>(values_[i].type()));
    AppendPayload(out, values_[i], 0);
  }
  size_t offset = 0;
  for (const Tensor& t : tensors_) {
    AppendString(out, t.name);
    AppendRaw<uint32_t>(out, static_cast<uint32_t>(t.shape.size()));
    for (const int64_t d : t.shape) AppendRaw<uint64_t>(out, static_cast<uint64_t>(d));
    AppendRaw<uint32_t>(out, static_cast<uint32_t>(t.type));
    AppendRaw<uint64_t>(out, offset);
    offset += PadTo(t.size_bytes, alignment_);
  }
  // The data section starts at the next multiple of the alignment; a file without tensors has
  // none (as the reader accepts it), and padding its header would let a huge general.alignment
  // (up to 2^31, which the reader allows) cost that much memory for nothing.
  if (!tensors_.empty()) out.resize(PadTo(out.size(), alignment_), '\0');
  return out;
}

Status GgufWriter::WriteTo(const ByteSink& sink) const {
  static constexpr uint8_t kZeros[256] = {};
  const std::string header = SerializeHeader();
  BASTION_RETURN_IF_ERROR(sink({reinterpret_cast<const uint8_t*>(header.data()), header.size()}));
  std::vector<uint8_t> scratch;  // reused by producers, sized to the largest produced tensor
  for (const Tensor& t : tensors_) {
    std::span<const uint8_t> bytes = t.data;
    if (t.producer) {
      if (scratch.size() < t.size_bytes) scratch.resize(t.size_bytes);
      std::span<uint8_t> out(scratch.data(), t.size_bytes);
      std::fill(out.begin(), out.end(), uint8_t{0});
      Status s = t.producer(out);
      if (!s.ok()) return s.error().WithContext("producing tensor '" + t.name + "'");
      bytes = out;
    }
    BASTION_RETURN_IF_ERROR(sink(bytes));
    for (size_t pad = PadTo(t.size_bytes, alignment_) - t.size_bytes; pad > 0;) {
      const size_t chunk = std::min(pad, sizeof kZeros);
      BASTION_RETURN_IF_ERROR(sink({kZeros, chunk}));
      pad -= chunk;
    }
  }
  return OkStatus();
}

Result<std::vector<uint8_t>> GgufWriter::WriteToBuffer() const {
  std::vector<uint8_t> bytes;
  BASTION_RETURN_IF_ERROR(WriteTo([&bytes](std::span<const uint8_t> b) {
    bytes.insert(bytes.end(), b.begin(), b.end());
    return OkStatus();
  }));
  return bytes;
}

Status GgufWriter::Write(const std::string& path) const {
  const std::filesystem::path target(path);
  std::filesystem::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  // Same directory as the target, so rename() is atomic (same filesystem).
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) return Error("creating a temporary file for " + path + ": " + ErrnoText(errno));
  auto fail = [&](Error e) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  };
  // mkstemp creates the file 0600; a model file is meant to be readable like any other.
  if (::fchmod(fd, 0644) != 0) return fail(Error("chmod " + tmp + ": " + ErrnoText(errno)));
  const ByteSink sink = [&](std::span<const uint8_t> b) { return WriteAll(fd, tmp, b); };
  if (Status s = WriteTo(sink); !s.ok()) return fail(s.error().WithContext("writing " + path));
  if (::fsync(fd) != 0) return fail(Error("fsync " + tmp + ": " + ErrnoText(errno)));
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Error("closing " + tmp + ": " + ErrnoText(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Error("renaming " + tmp + " to " + path + ": " + ErrnoText(err));
  }
  // Make the rename itself durable.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    const int rc = ::fsync(dir_fd);
    const int err = errno;
    ::close(dir_fd);
    if (rc != 0) return Error("fsync of directory " + dir.string() + ": " + ErrnoText(err));
  }
  return OkStatus();
}

}  // namespace bastion
