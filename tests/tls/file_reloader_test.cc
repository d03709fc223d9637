// Certificates from files: loaded, reloaded on change and on request, bad pairs kept out.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "base/atomic_file.h"
#include "tls/file_reloader.h"
#include "tls/x509_issue.h"

namespace bastion::tls {
namespace {

class FileReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bastion-reload-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    cert_ = dir_ + "/cert.pem";
    key_ = dir_ + "/key.pem";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes a fresh self-signed pair; returns its serial.
  std::string WritePair(const std::string& name) {
    CertificateSpec spec;
    spec.common_name = name;
    spec.names = {name};
    spec.not_before = std::chrono::system_clock::now() - std::chrono::hours(1);
    spec.not_after = spec.not_before + std::chrono::hours(48);
    auto pem = IssueCertificate(spec, nullptr);
    EXPECT_TRUE(pem.ok());
    EXPECT_TRUE(WriteFileAtomic(key_, pem->key_pem, 0600).ok());
    EXPECT_TRUE(WriteFileAtomic(cert_, pem->cert_pem, 0644).ok());
    return (*CertifiedKey::FromPem(pem->cert_pem, pem->key_pem))->serial_hex();
  }

  // Polls until the store's default has `serial` (or 5 s pass).
  bool WaitForSerial(const CertificateStore& store, const std::string& serial) {
    for (int i = 0; i < 100; ++i) {
      if (auto c = store.Select(""); c && c->serial_hex() == serial) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::string dir_, cert_, key_;
  std::vector<std::string> log_;
  std::mutex log_mu_;
};

TEST_F(FileReloaderTest, ErrorsNameTheFile) {
  auto r = LoadCertificateFiles(dir_ + "/missing.pem", key_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("missing.pem"), std::string::npos) << r.error().message();
  ASSERT_TRUE(WriteFileAtomic(cert_, "not a certificate\n").ok());
  ASSERT_TRUE(WriteFileAtomic(key_, "not a key\n", 0600).ok());
  r = LoadCertificateFiles(cert_, key_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("no certificate found"), std::string::npos) << r.error().message();
  auto store = std::make_shared<CertificateStore>();
  EXPECT_FALSE(CertificateFileReloader::Start(store, {cert_, key_}).ok());
}

TEST_F(FileReloaderTest, ReloadsOnChangeKeepsTheOldPairWhenTheNewIsBad) {
  const std::string first = WritePair("files.test");
  auto store = std::make_shared<CertificateStore>();
  CertificateFileReloader::Options o{cert_, key_, std::chrono::milliseconds(100), [this](const std::string& line) {
                                       std::lock_guard lock(log_mu_);
                                       log_.push_back(line);
                                     }};
  auto reloader = CertificateFileReloader::Start(store, o);
  ASSERT_TRUE(reloader.ok()) << reloader.error().message();
  EXPECT_EQ(store->Select("")->serial_hex(), first);
  EXPECT_EQ(store->Select("files.test")->serial_hex(), first);

  // Garbage: logged, the old certificate stays.
  ASSERT_TRUE(WriteFileAtomic(cert_, "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(store->Select("")->serial_hex(), first);
  {
    std::lock_guard lock(log_mu_);
    ASSERT_FALSE(log_.empty());
    EXPECT_NE(log_.back().find("kept the current TLS certificate"), std::string::npos) << log_.back();
  }

  const std::string second = WritePair("files.test");
  EXPECT_TRUE(WaitForSerial(*store, second));
  EXPECT_EQ(store->Select("files.test")->serial_hex(), second);
  EXPECT_EQ((*reloader)->current()->serial_hex(), second);
}

TEST_F(FileReloaderTest, ReloadsOnSignalRequest) {
  WritePair("sig.test");
  auto store = std::make_shared<CertificateStore>();
  // A poll interval far beyond the test: only the request can make it reload.
  auto reloader = CertificateFileReloader::Start(store, {cert_, key_, std::chrono::hours(1), [](const std::string&) {}});
  ASSERT_TRUE(reloader.ok());
  const std::string second = WritePair("sig.test");
  RequestCertificateReload();
  EXPECT_TRUE(WaitForSerial(*store, second));
}

}  // namespace
}  // namespace bastion::tls
