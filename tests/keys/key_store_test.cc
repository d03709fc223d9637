// The API key store: formats, the keys file (create/list/revoke under the lock), the loaded store
// (authentication, expiry, scope, reload) and the header helper.
#include "keys/key_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "base/atomic_file.h"
#include "test_util.h"

namespace bastion::keys {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

TimePoint Now() { return std::chrono::system_clock::now(); }

TimePoint At(const char* text) {
  auto t = ParseTime(text);
  EXPECT_TRUE(t.ok()) << t.error().message();
  return t.ok() ? *t : TimePoint{};
}

KeySpec Spec(const std::string& name, Scope scope = Scope::kInference) {
  KeySpec s;
  s.name = name;
  s.scope = scope;
  return s;
}

// ---- formats ----

TEST(KeyFormats, ParseTimeAcceptsDatesAndRfc3339) {
  EXPECT_EQ(FormatTime(At("2027-01-31")), "2027-01-31T00:00:00Z");
  EXPECT_EQ(FormatTime(At("2027-01-31T12:34:56Z")), "2027-01-31T12:34:56Z");
  EXPECT_EQ(FormatTime(At("2027-01-31t12:34:56z")), "2027-01-31T12:34:56Z");
  EXPECT_EQ(FormatTime(At("2027-01-31T12:34:56.789Z")), "2027-01-31T12:34:56Z");
  EXPECT_EQ(FormatTime(At("2027-01-31T12:00:00+02:00")), "2027-01-31T10:00:00Z");
  EXPECT_EQ(FormatTime(At("2027-01-31T23:30:00-01:00")), "2027-02-01T00:30:00Z");
  EXPECT_EQ(FormatTime(At("2028-02-29")), "2028-02-29T00:00:00Z");
  EXPECT_EQ(FormatTime(At("1970-01-01T00:00:00Z")), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTime(At("2199-12-31T23:59:59Z")), "2199-12-31T23:59:59Z");
  EXPECT_EQ(FormatTime(At("2134-01-31")), "2134-01-31T00:00:00Z");  // a fuzz finding
}

TEST(KeyFormats, ParseTimeRejectsWithAMessage) {
  for (const char* bad : {"", "2027", "2027-1-31", "2027-02-30", "2027-13-01", "2027-00-10", "1969-12-31",
                          "2027-01-31T12:00:00", "2027-01-31T24:00:00Z", "2027-01-31T12:60:00Z", "2027-01-31T12:00:61Z",
                          "2027-01-31T12:00Z", "2027-01-31T12:00:00.Z", "2027-01-31T12:00:00+2:00",
                          "2027-01-31T12:00:00+02:00x", "2027-01-31Z", "2027-01-31x12:00:00Z", "tomorrow",
                          "2027-01-31T12:00:00+24:00", "+027-01-31", "1970-01-01T00:30:00+01:00",
                          "2199-12-31T23:00:00-02:00", "2200-01-01", "2134-01-31T00:00:00.", "9999-12-31"}) {
    auto t = ParseTime(bad);
    EXPECT_FALSE(t.ok()) << bad;
    if (!t.ok()) {
      EXPECT_NE(t.error().message().find("expected YYYY-MM-DD"), std::string::npos);
    }
  }
}

TEST(KeyFormats, ParseRate) {
  EXPECT_DOUBLE_EQ(*ParseRate("5"), 5.0);
  EXPECT_DOUBLE_EQ(*ParseRate("0.5"), 0.5);
  EXPECT_DOUBLE_EQ(*ParseRate("5/s"), 5.0);
  EXPECT_DOUBLE_EQ(*ParseRate("5r/s"), 5.0);
  EXPECT_DOUBLE_EQ(*ParseRate("30r/m"), 0.5);
  EXPECT_DOUBLE_EQ(*ParseRate("30/m"), 0.5);
  for (const char* bad : {"", "0", "0/s", "-1", "+1", " 1", "1 ", "abc", "1/h", "r/s", "/s", "inf", "nan", "1e3",
                          "2000000", "0x10", "1..2"}) {
    EXPECT_FALSE(ParseRate(bad).ok()) << bad;
  }
}

TEST(KeyFormats, KeyNames) {
  EXPECT_TRUE(IsValidKeyName("ci"));
  EXPECT_TRUE(IsValidKeyName("A-z_0.9"));
  EXPECT_TRUE(IsValidKeyName(std::string(64, 'a')));
  EXPECT_FALSE(IsValidKeyName(""));
  EXPECT_FALSE(IsValidKeyName(std::string(65, 'a')));
  EXPECT_FALSE(IsValidKeyName("a b"));
  EXPECT_FALSE(IsValidKeyName("a/b"));
  EXPECT_FALSE(IsValidKeyName("é"));
}

TEST(KeyFormats, SecretsAreLongRandomAndUrlSafe) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto s = GenerateSecret();
    ASSERT_TRUE(s.ok());
    ASSERT_EQ(s->size(), 4u + 43u);  // "bst_" + 32 bytes in unpadded base64url
    EXPECT_EQ(s->substr(0, 4), "bst_");
    for (const char c : s->substr(4)) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << *s;
    EXPECT_TRUE(seen.insert(*s).second);
  }
}

// ---- header extraction ----

std::optional<std::string> Extract(const char* authorization, const char* x_api_key) {
  const std::string a = authorization ? authorization : "", x = x_api_key ? x_api_key : "";
  return ExtractPresentedKey(authorization ? &a : nullptr, x_api_key ? &x : nullptr);
}

TEST(ExtractPresentedKey, BearerAndXApiKey) {
  EXPECT_EQ(Extract("Bearer bst_abc", nullptr), "bst_abc");
  EXPECT_EQ(Extract("bearer bst_abc", nullptr), "bst_abc");
  EXPECT_EQ(Extract("BEARER bst_abc", nullptr), "bst_abc");
  EXPECT_EQ(Extract("Bearer    bst_abc", nullptr), "bst_abc");
  EXPECT_EQ(Extract("Bearer\tbst_abc ", nullptr), "bst_abc");
  EXPECT_EQ(Extract("  Bearer bst_abc", nullptr), "bst_abc");
  EXPECT_EQ(Extract("Bearer abc+/~.-_==", nullptr), "abc+/~.-_==");
  EXPECT_EQ(Extract(nullptr, "bst_abc"), "bst_abc");
  EXPECT_EQ(Extract(nullptr, " bst_abc "), "bst_abc");
  EXPECT_EQ(Extract("Bearer bst_abc", "bst_abc"), "bst_abc");  // the same key twice is fine
  // Another scheme is not an API key; X-Api-Key still counts next to it.
  EXPECT_EQ(Extract("Basic dXNlcjpwYXNz", "bst_abc"), "bst_abc");
}

TEST(ExtractPresentedKey, MalformedOrAbsentGivesNothing) {
  EXPECT_EQ(Extract(nullptr, nullptr), std::nullopt);
  EXPECT_EQ(Extract("", nullptr), std::nullopt);
  EXPECT_EQ(Extract("Bearer", nullptr), std::nullopt);
  EXPECT_EQ(Extract("Bearer ", nullptr), std::nullopt);
  EXPECT_EQ(Extract("Bearer a b", nullptr), std::nullopt);
  EXPECT_EQ(Extract("Bearer a=b", nullptr), std::nullopt);
  EXPECT_EQ(Extract("Bearer =", nullptr), std::nullopt);
  EXPECT_EQ(Extract("Bearer a\"b", nullptr), std::nullopt);
  EXPECT_EQ(Extract("Bearerbst_abc", nullptr), std::nullopt);
  EXPECT_EQ(Extract("Bearer: bst_abc", nullptr), std::nullopt);
  EXPECT_EQ(Extract("Basic dXNlcjpwYXNz", nullptr), std::nullopt);
  EXPECT_EQ(Extract(("Bearer " + std::string(513, 'a')).c_str(), nullptr), std::nullopt);
  EXPECT_EQ(Extract(("Bearer " + std::string(512, 'a')).c_str(), nullptr), std::string(512, 'a'));
  EXPECT_EQ(Extract(nullptr, ""), std::nullopt);
  EXPECT_EQ(Extract(nullptr, "a b"), std::nullopt);
  EXPECT_EQ(Extract(nullptr, "Bearer bst_abc"), std::nullopt);
  // A malformed header of either kind spoils the request, and two different keys are ambiguous.
  EXPECT_EQ(Extract("Bearer a b", "bst_abc"), std::nullopt);
  EXPECT_EQ(Extract("Bearer bst_abc", "a b"), std::nullopt);
  EXPECT_EQ(Extract("Bearer bst_abc", "bst_xyz"), std::nullopt);
}

// ---- the keys file ----

TEST(KeysFile, CreateListRevokeRoundTrip) {
  const std::string dir = testing::TempDir("keys_roundtrip") + "/state";  // created by CreateKey
  const TimePoint now = At("2026-11-26T08:00:00Z");
  KeySpec ci = Spec("ci");
  ci.rate = 2.5;
  ci.burst = 10;
  ci.max_concurrent = 3;
  ci.expires = At("2027-01-01");
  auto a = CreateKey(dir, ci, now);
  ASSERT_TRUE(a.ok()) << a.error().message();
  auto b = CreateKey(dir, Spec("ops", Scope::kAdmin), now);
  ASSERT_TRUE(b.ok()) << b.error().message();
  EXPECT_NE(a->secret, b->secret);
  EXPECT_EQ(a->info.prefix, a->secret.substr(0, 10));

  auto list = ListKeys(dir);
  ASSERT_TRUE(list.ok()) << list.error().message();
  ASSERT_EQ(list->size(), 2u);
  const KeyInfo& k = (*list)[0];
  EXPECT_EQ(k.name, "ci");
  EXPECT_EQ(k.scope, Scope::kInference);
  EXPECT_EQ(k.rate, 2.5);
  EXPECT_EQ(k.burst, 10);
  EXPECT_EQ(k.max_concurrent, 3);
  EXPECT_EQ(k.created, now);
  EXPECT_EQ(FormatTime(*k.expires), "2027-01-01T00:00:00Z");
  EXPECT_EQ(k.prefix, a->info.prefix);
  EXPECT_EQ((*list)[1].name, "ops");
  EXPECT_EQ((*list)[1].scope, Scope::kAdmin);
  EXPECT_FALSE((*list)[1].rate.has_value());
  EXPECT_FALSE((*list)[1].expires.has_value());

  auto gone = RevokeKey(dir, "ci");
  ASSERT_TRUE(gone.ok());
  EXPECT_TRUE(*gone);
  auto unknown = RevokeKey(dir, "ci");
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(*unknown);
  list = ListKeys(dir);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "ops");
}

TEST(KeysFile, ModeIs0600AndTheSecretIsNeverStored) {
  const std::string dir = testing::TempDir("keys_mode");
  ::umask(022);  // a typical umask would make a plain file 0644
  auto a = CreateKey(dir, Spec("ci"), Now());
  ASSERT_TRUE(a.ok()) << a.error().message();
  struct stat st;
  ASSERT_EQ(::stat(KeysFilePath(dir).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string text = testing::ReadFileToString(KeysFilePath(dir));
  EXPECT_EQ(text.find(a->secret), std::string::npos);
  EXPECT_EQ(text.find(a->secret.substr(4)), std::string::npos);  // not even without "bst_"
  EXPECT_EQ(text.find(a->secret.substr(10, 20)), std::string::npos);
  EXPECT_NE(text.find("\"sha256:"), std::string::npos);
  EXPECT_NE(text.find(a->info.prefix), std::string::npos);
  EXPECT_NE(text.find("\"version\": 1"), std::string::npos);
  // A second write (revoke) keeps the mode.
  ASSERT_TRUE(CreateKey(dir, Spec("b"), Now()).ok());
  ASSERT_TRUE(*RevokeKey(dir, "b"));
  ASSERT_EQ(::stat(KeysFilePath(dir).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(KeysFile, CreateRejectsBadSpecs) {
  const std::string dir = testing::TempDir("keys_bad_spec");
  const TimePoint now = Now();
  ASSERT_TRUE(CreateKey(dir, Spec("ci"), now).ok());
  auto dup = CreateKey(dir, Spec("ci"), now);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message().find("already exists"), std::string::npos);
  EXPECT_FALSE(CreateKey(dir, Spec("bad name"), now).ok());
  EXPECT_FALSE(CreateKey(dir, Spec(""), now).ok());
  KeySpec s = Spec("x");
  s.burst = 5;  // without a rate
  EXPECT_FALSE(CreateKey(dir, s, now).ok());
  s = Spec("x");
  s.rate = 0;
  EXPECT_FALSE(CreateKey(dir, s, now).ok());
  s = Spec("x");
  s.max_concurrent = 0;
  EXPECT_FALSE(CreateKey(dir, s, now).ok());
  s = Spec("x");
  s.expires = now - seconds(1);
  auto past = CreateKey(dir, s, now);
  ASSERT_FALSE(past.ok());
  EXPECT_NE(past.error().message().find("not in the future"), std::string::npos);
  EXPECT_EQ(ListKeys(dir)->size(), 1u);
}

TEST(KeysFile, NoFileMeansNoKeysAndACorruptFileIsAnError) {
  const std::string dir = testing::TempDir("keys_nofile");
  auto list = ListKeys(dir);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  auto revoked = RevokeKey(dir, "x");
  ASSERT_TRUE(revoked.ok());
  EXPECT_FALSE(*revoked);

  ASSERT_TRUE(WriteFileAtomic(KeysFilePath(dir), "{\"version\": 1, \"keys\": [", 0600).ok());
  list = ListKeys(dir);
  ASSERT_FALSE(list.ok());
  EXPECT_NE(list.error().message().find("keys.json"), std::string::npos);
  // A change never overwrites a file it could not read (it could hold keys we would drop).
  EXPECT_FALSE(CreateKey(dir, Spec("ci"), Now()).ok());
  EXPECT_EQ(testing::ReadFileToString(KeysFilePath(dir)), "{\"version\": 1, \"keys\": [");
}

TEST(KeysFile, ConcurrentCreatesFromThreadsAllLand) {
  const std::string dir = testing::TempDir("keys_threads");
  constexpr int kPerThread = 15;
  std::atomic<int> failures{0};
  auto worker = [&](const std::string& tag) {
    for (int i = 0; i < kPerThread; ++i) {
      if (!CreateKey(dir, Spec(tag + std::to_string(i)), Now()).ok()) ++failures;
    }
  };
  std::thread t1(worker, "a"), t2(worker, "b");
  t1.join();
  t2.join();
  EXPECT_EQ(failures.load(), 0);
  auto list = ListKeys(dir);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u * kPerThread);
}

TEST(KeysFile, ConcurrentCreatesFromProcessesAllLand) {
  const std::string dir = testing::TempDir("keys_procs");
  constexpr int kProcs = 3, kPerProc = 8;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int bad = 0;
      for (int i = 0; i < kPerProc; ++i) {
        if (!CreateKey(dir, Spec("p" + std::to_string(p) + "-" + std::to_string(i)), Now()).ok()) ++bad;
      }
      ::_exit(bad == 0 ? 0 : 1);
    }
    pids.push_back(pid);
  }
  for (const pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto list = ListKeys(dir);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), static_cast<size_t>(kProcs * kPerProc));
}

TEST(KeysFile, ParseRoundTripsAndRejectsHostileFiles) {
  const std::string dir = testing::TempDir("keys_parse");
  KeySpec s = Spec("ci");
  s.rate = 0.1;
  s.burst = 0;
  s.expires = At("2099-12-31T23:59:59Z");
  ASSERT_TRUE(CreateKey(dir, s, Now()).ok());
  ASSERT_TRUE(CreateKey(dir, Spec("ops", Scope::kAdmin), Now()).ok());
  const std::string text = testing::ReadFileToString(KeysFilePath(dir));
  auto parsed = ParseKeysFile(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(SerializeKeysFile(*parsed), text);

  const std::string hash = "sha256:" + std::string(64, 'a');
  const auto key = [&](const std::string& fields) {
    return "{\"version\":1,\"keys\":[{\"name\":\"k\",\"prefix\":\"bst_abc\",\"hash\":\"" + hash +
           "\",\"scope\":\"inference\",\"created\":\"2026-01-01T00:00:00Z\"" + fields + "}]}";
  };
  EXPECT_TRUE(ParseKeysFile(key("")).ok());
  EXPECT_TRUE(ParseKeysFile(key(",\"expires\":null,\"rate\":null,\"unknown\":[1]")).ok());
  EXPECT_TRUE(ParseKeysFile("{\"version\":1,\"keys\":[]}").ok());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "not valid JSON"},
      {"null", "expected a JSON object"},
      {"[]", "expected a JSON object"},
      {"{\"keys\":[]}", "missing \"version\""},
      {"{\"version\":2,\"keys\":[]}", "version 2 is not supported"},
      {"{\"version\":\"1\",\"keys\":[]}", "expected an integer"},
      {"{\"version\":1}", "missing \"keys\""},
      {"{\"version\":1,\"keys\":{}}", "expected an array"},
      {"{\"version\":1,\"keys\":[1]}", "keys[0]: expected an object"},
      {std::string(100000, '[') , "nested deeper"},
      {"{\"version\":1,\"keys\":[[[[[[[[[[]]]]]]]]]]}", "nested deeper"},
      {key(",\"rate\":0"), "rate"},
      {key(",\"rate\":-1"), "rate"},
      {key(",\"rate\":1e300"), "rate"},
      {key(",\"rate\":\"5\""), "rate: expected a number"},
      {key(",\"burst\":-1"), "burst"},
      {key(",\"burst\":1.5"), "burst: expected an integer"},
      {key(",\"burst\":18446744073709551615"), "burst"},
      {key(",\"max_concurrent\":0"), "max_concurrent"},
      {key(",\"expires\":\"soon\""), "expires"},
      {key(",\"expires\":5"), "expires: expected a string"},
  };
  for (const auto& [input, message] : bad) {
    auto r = ParseKeysFile(input);
    ASSERT_FALSE(r.ok()) << input.substr(0, 200);
    EXPECT_NE(r.error().message().find(message), std::string::npos) << r.error().message();
  }
  // Field-level errors name the key.
  std::string t = key("");
  auto r = ParseKeysFile(t.replace(t.find("inference"), 9, "root"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("key 'k': scope"), std::string::npos) << r.error().message();
  t = key("");
  r = ParseKeysFile(t.replace(t.find(hash), hash.size(), "sha256:ABC"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("hash"), std::string::npos);
  t = key("");
  r = ParseKeysFile(t.replace(t.find("\"k\""), 3, "\"a b\""));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("name 'a b'"), std::string::npos);
  // Duplicates: the same name twice, or the same hash under two names.
  const std::string one = "{\"name\":\"k\",\"prefix\":\"p\",\"hash\":\"" + hash + "\",\"scope\":\"admin\",\"created\":\"2026-01-01\"}";
  std::string other = one;
  r = ParseKeysFile("{\"version\":1,\"keys\":[" + one + "," + other + "]}");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("two keys named 'k'"), std::string::npos);
  other.replace(other.find("\"k\""), 3, "\"j\"");
  r = ParseKeysFile("{\"version\":1,\"keys\":[" + one + "," + other + "]}");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("same hash"), std::string::npos);
}

// ---- the loaded store ----

struct Logs {
  std::mutex mu;
  std::vector<std::string> lines;
  KeyStore::LogFn fn() {
    return [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mu);
      lines.push_back(line);
    };
  }
  size_t Count(const std::string& needle) {
    std::lock_guard<std::mutex> lock(mu);
    size_t n = 0;
    for (const auto& l : lines) n += l.find(needle) != std::string::npos;
    return n;
  }
};

TEST(KeyStore, AuthenticatesOnlyTheRightUnexpiredSecret) {
  const std::string dir = testing::TempDir("keystore_auth");
  const TimePoint now = Now();
  KeySpec temp = Spec("temp");
  temp.expires = now + hours(1);
  temp.rate = 3;
  auto a = CreateKey(dir, temp, now);
  auto b = CreateKey(dir, Spec("ops", Scope::kAdmin), now);
  ASSERT_TRUE(a.ok() && b.ok());
  Logs logs;
  auto store = KeyStore::Load(dir, logs.fn());
  ASSERT_TRUE(store.ok()) << store.error().message();
  EXPECT_FALSE((*store)->empty());
  EXPECT_EQ((*store)->size(), 2u);

  auto k = (*store)->Authenticate(a->secret, now);
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->name, "temp");
  EXPECT_EQ(k->rate, 3.0);
  EXPECT_TRUE(k->Allows(Scope::kInference));
  EXPECT_FALSE(k->Allows(Scope::kAdmin));
  auto ops = (*store)->Authenticate(b->secret, now);
  ASSERT_TRUE(ops.has_value());
  EXPECT_EQ(ops->name, "ops");
  EXPECT_TRUE(ops->Allows(Scope::kAdmin));
  EXPECT_TRUE(ops->Allows(Scope::kInference));  // admin implies inference

  // Wrong secrets: one character off (first, middle, last), truncated, extended, empty, prefix.
  std::string wrong = a->secret;
  for (const size_t pos : {size_t{0}, wrong.size() / 2, wrong.size() - 1}) {
    std::string w = wrong;
    w[pos] = w[pos] == 'A' ? 'B' : 'A';
    EXPECT_FALSE((*store)->Authenticate(w, now).has_value()) << pos;
  }
  EXPECT_FALSE((*store)->Authenticate(wrong.substr(0, wrong.size() - 1), now).has_value());
  EXPECT_FALSE((*store)->Authenticate(wrong + "A", now).has_value());
  EXPECT_FALSE((*store)->Authenticate("", now).has_value());
  EXPECT_FALSE((*store)->Authenticate(a->info.prefix, now).has_value());

  // Expiry: valid until the instant it expires, refused from then on.
  EXPECT_TRUE((*store)->Authenticate(a->secret, *a->info.expires - seconds(1)).has_value());
  EXPECT_FALSE((*store)->Authenticate(a->secret, *a->info.expires).has_value());
  EXPECT_FALSE((*store)->Authenticate(a->secret, now + hours(2)).has_value());
  EXPECT_TRUE((*store)->Authenticate(b->secret, now + hours(24 * 365 * 50)).has_value());
}

TEST(KeyStore, MissingFileIsEmptyAndCorruptFileFailsToLoad) {
  const std::string dir = testing::TempDir("keystore_load");
  auto store = KeyStore::Load(dir);
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->empty());
  EXPECT_FALSE((*store)->Authenticate("bst_anything", Now()).has_value());
  ASSERT_TRUE(WriteFileAtomic(KeysFilePath(dir), "garbage", 0600).ok());
  auto bad = KeyStore::Load(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("not valid JSON"), std::string::npos);
}

TEST(KeyStore, WarnsAboutAnOpenFileMode) {
  const std::string dir = testing::TempDir("keystore_mode");
  ASSERT_TRUE(CreateKey(dir, Spec("ci"), Now()).ok());
  ASSERT_EQ(::chmod(KeysFilePath(dir).c_str(), 0644), 0);
  Logs logs;
  ASSERT_TRUE(KeyStore::Load(dir, logs.fn()).ok());
  EXPECT_EQ(logs.Count("should be 0600"), 1u);
}

TEST(KeyStore, ReloadPicksUpARevokeFromAnotherProcess) {
  const std::string dir = testing::TempDir("keystore_reload");
  auto a = CreateKey(dir, Spec("a"), Now());
  auto b = CreateKey(dir, Spec("b"), Now());
  ASSERT_TRUE(a.ok() && b.ok());
  Logs logs;
  auto loaded = KeyStore::Load(dir, logs.fn());
  ASSERT_TRUE(loaded.ok());
  KeyStore& store = **loaded;
  EXPECT_FALSE(store.ReloadIfChanged());  // nothing changed
  ASSERT_TRUE(store.Authenticate(a->secret, Now()).has_value());

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto r = RevokeKey(dir, "a");
    ::_exit(r.ok() && *r ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  // The server polls: the first poll after the change sees it.
  EXPECT_TRUE(store.ReloadIfChanged());
  EXPECT_FALSE(store.Authenticate(a->secret, Now()).has_value());
  EXPECT_TRUE(store.Authenticate(b->secret, Now()).has_value());
  EXPECT_FALSE(store.ReloadIfChanged());
  EXPECT_EQ(logs.Count("reloaded"), 1u);

  // A key created by another KeyStore user is picked up too.
  auto c = CreateKey(dir, Spec("c"), Now());
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(store.ReloadIfChanged());
  EXPECT_TRUE(store.Authenticate(c->secret, Now()).has_value());
  EXPECT_EQ(store.size(), 2u);
}

TEST(KeyStore, CorruptFileOnReloadKeepsThePreviousKeys) {
  const std::string dir = testing::TempDir("keystore_corrupt");
  auto a = CreateKey(dir, Spec("a"), Now());
  ASSERT_TRUE(a.ok());
  Logs logs;
  auto loaded = KeyStore::Load(dir, logs.fn());
  ASSERT_TRUE(loaded.ok());
  KeyStore& store = **loaded;
  const std::string good = testing::ReadFileToString(KeysFilePath(dir));

  ASSERT_TRUE(WriteFileAtomic(KeysFilePath(dir), good.substr(0, good.size() / 2), 0600).ok());
  EXPECT_FALSE(store.ReloadIfChanged());
  EXPECT_TRUE(store.Authenticate(a->secret, Now()).has_value());
  EXPECT_NE(store.last_error().find("not valid JSON"), std::string::npos);
  EXPECT_FALSE(store.ReloadIfChanged());  // the same bad file is not re-read or re-logged
  EXPECT_EQ(logs.Count("keeping the previous 1 key(s)"), 1u);

  // Unreadable (a directory where the file should be) is handled the same way.
  ASSERT_EQ(::unlink(KeysFilePath(dir).c_str()), 0);
  ASSERT_EQ(::mkdir(KeysFilePath(dir).c_str(), 0700), 0);
  EXPECT_FALSE(store.ReloadIfChanged());
  EXPECT_TRUE(store.Authenticate(a->secret, Now()).has_value());
  EXPECT_EQ(logs.Count("keeping the previous 1 key(s)"), 2u);
  ASSERT_EQ(::rmdir(KeysFilePath(dir).c_str()), 0);

  // Fixed again: reloads, and the error clears.
  ASSERT_TRUE(WriteFileAtomic(KeysFilePath(dir), good, 0600).ok());
  EXPECT_TRUE(store.ReloadIfChanged());
  EXPECT_TRUE(store.last_error().empty());
  EXPECT_TRUE(store.Authenticate(a->secret, Now()).has_value());
}

TEST(KeyStore, RemovedFileMeansNoKeys) {
  const std::string dir = testing::TempDir("keystore_removed");
  auto a = CreateKey(dir, Spec("a"), Now());
  ASSERT_TRUE(a.ok());
  Logs logs;
  auto loaded = KeyStore::Load(dir, logs.fn());
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(::unlink(KeysFilePath(dir).c_str()), 0);
  EXPECT_TRUE((*loaded)->ReloadIfChanged());
  EXPECT_TRUE((*loaded)->empty());
  EXPECT_FALSE((*loaded)->Authenticate(a->secret, Now()).has_value());
  EXPECT_EQ(logs.Count("was removed"), 1u);
}

TEST(KeyStore, ConcurrentAuthenticateAndReload) {
  const std::string dir = testing::TempDir("keystore_threads");
  auto keep = CreateKey(dir, Spec("keep"), Now());
  ASSERT_TRUE(keep.ok());
  auto loaded = KeyStore::Load(dir, [](const std::string&) {});
  ASSERT_TRUE(loaded.ok());
  KeyStore& store = **loaded;
  std::atomic<bool> stop{false};
  std::atomic<int> misses{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        if (!store.Authenticate(keep->secret, Now()).has_value()) ++misses;
        store.ReloadIfChanged();
        (void)store.List();
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(CreateKey(dir, Spec("tmp" + std::to_string(i)), Now()).ok());
    ASSERT_TRUE(*RevokeKey(dir, "tmp" + std::to_string(i)));
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(misses.load(), 0);
  // A reload that lost a try_lock race may not have run yet: one more poll settles it.
  store.ReloadIfChanged();
  EXPECT_EQ(store.size(), 1u);
}

}  // namespace
}  // namespace bastion::keys
