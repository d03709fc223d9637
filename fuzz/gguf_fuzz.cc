// libFuzzer target for the GGUF reader (and, through a round trip, the writer).
//
// For any input: Parse() must return a value or an error and never crash, hang or allocate
// wildly (ASan/UBSan catch memory errors, libFuzzer's -rss_limit_mb and -timeout the rest).
// When the input parses, the result must satisfy the reader's documented invariants, every
// getter must be safe to call on every key, and writing the parsed contents back with
// GgufWriter must produce a file that parses to the same contents.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/check.h"
#include "base/mapped_file.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"

namespace bastion {
namespace {

// Every getter on every key: the results do not matter, only that each call is safe.
void ExerciseGetters(const GgufFile& f) {
  size_t sink = 0;
  for (const std::string& key : f.keys()) {
    BASTION_CHECK(f.Find(key) != nullptr);
    sink += f.DescribeValue(key, 200).size();
    if (auto r = f.GetUint(key); r.ok()) sink += *r;
    if (auto r = f.GetUint32(key); r.ok()) sink += *r;
    if (auto r = f.GetInt(key); r.ok()) sink += static_cast<size_t>(*r);
    if (auto r = f.GetFloat(key); r.ok()) sink += *r > 0.0f;
    if (auto r = f.GetBool(key); r.ok()) sink += *r;
    if (auto r = f.GetString(key); r.ok()) sink += r->size();
    if (auto r = f.GetStringArray(key); r.ok()) sink += r->size();
    if (auto r = f.GetInt32Array(key); r.ok()) sink += r->size();
    if (auto r = f.GetFloatArray(key); r.ok()) sink += r->size();
  }
  BASTION_CHECK(f.DescribeValue("\x01missing", 10) == "<missing>");
  asm volatile("" : : "r"(sink));
}

// The reader's promises about tensors, checked independently of how it computed them.
void CheckTensors(const GgufFile& f) {
  const uint8_t* begin = f.mapped_file().data();
  const uint8_t* end = begin + f.mapped_file().size();
  for (const GgufTensorInfo& t : f.tensors()) {
    BASTION_CHECK(f.FindTensor(t.name) == &t);
    BASTION_CHECK(!t.shape.empty() && t.shape.size() <= static_cast<size_t>(kGgufMaxDims));
    int64_t n = 1;
    for (int64_t d : t.shape) {
      BASTION_CHECK(d >= 1);
      n *= d;
    }
    BASTION_CHECK(n == t.n_elements);
    BASTION_CHECK(t.shape[0] % BlockSize(t.type) == 0);
    BASTION_CHECK(t.size_bytes == GgufWriter::TensorBytes(t.type, t.shape));
    BASTION_CHECK(t.offset % f.alignment() == 0);
    BASTION_CHECK(t.data >= begin + f.data_offset() && t.data <= end);
    BASTION_CHECK(t.size_bytes <= static_cast<size_t>(end - t.data));
    // Touch both ends so ASan sees any out-of-bounds pointer.
    volatile uint8_t first = t.data[0];
    volatile uint8_t last = t.data[t.size_bytes - 1];
    (void)first;
    (void)last;
  }
}

GgufWriter Rebuild(const GgufFile& f) {
  GgufWriter w;
  for (const std::string& key : f.keys()) w.Set(key, *f.Find(key));
  for (const GgufTensorInfo& t : f.tensors()) {
    w.AddTensor(t.name, t.type, t.shape, std::vector<uint8_t>(t.data, t.data + t.size_bytes));
  }
  return w;
}

void CheckRoundTrip(const GgufFile& f) {
  auto bytes = Rebuild(f).WriteToBuffer();
  BASTION_CHECK(bytes.ok());
  auto again = GgufFile::Parse(MappedFile::FromBytes(*bytes));
  BASTION_CHECK_MSG(again.ok(), again.ok() ? "" : again.error().message().c_str());
  const GgufFile& g = **again;
  BASTION_CHECK(g.version() == kGgufVersion);
  BASTION_CHECK(g.alignment() == f.alignment());
  // The writer leaves out an explicit general.alignment of 32 (the default); all else stays.
  std::vector<std::string> expected_keys;
  for (const std::string& key : f.keys()) {
    if (key == kGgufAlignmentKey && f.alignment() == kGgufDefaultAlignment) continue;
    expected_keys.push_back(key);
  }
  BASTION_CHECK(g.keys() == expected_keys);
  for (const std::string& key : expected_keys) BASTION_CHECK(*g.Find(key) == *f.Find(key));
  BASTION_CHECK(g.tensors().size() == f.tensors().size());
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const GgufTensorInfo& a = f.tensors()[i];
    const GgufTensorInfo& b = g.tensors()[i];
    BASTION_CHECK(a.name == b.name && a.type == b.type && a.shape == b.shape);
    BASTION_CHECK(a.size_bytes == b.size_bytes);
    BASTION_CHECK(std::equal(a.data, a.data + a.size_bytes, b.data));
  }
  // Serialization is deterministic: writing the re-read file gives the same bytes.
  auto bytes2 = Rebuild(g).WriteToBuffer();
  BASTION_CHECK(bytes2.ok() && *bytes2 == *bytes);
}

}  // namespace
}  // namespace bastion

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bastion;
  auto parsed = GgufFile::Parse(MappedFile::FromBytes({data, size}));
  if (!parsed.ok()) {
    BASTION_CHECK(!parsed.error().message().empty());
    return 0;
  }
  const GgufFile& f = **parsed;
  BASTION_CHECK(f.version() == 2 || f.version() == 3);
  BASTION_CHECK(f.alignment() > 0 && (f.alignment() & (f.alignment() - 1)) == 0);
  ExerciseGetters(f);
  CheckTensors(f);
  CheckRoundTrip(f);
  return 0;
}
