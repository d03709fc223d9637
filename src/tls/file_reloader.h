// Certificates from user files (--tls-cert/--tls-key): loaded at start, then watched — when
// either file changes (inode, size or mtime, polled every ~2 s) or on SIGHUP the pair is read
// again and, if it parses and matches, put into the store for new handshakes. A bad new pair
// (half-written, mismatched, garbage) is logged and the old certificate stays in service.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/log.h"
#include "base/result.h"
#include "tls/certificate_store.h"

namespace bastion::tls {

// Reads and parses a PEM certificate chain file and a PEM key file. Errors name the file.
Result<std::shared_ptr<const CertifiedKey>> LoadCertificateFiles(const std::string& cert_path,
                                                                 const std::string& key_path);

// Async-signal-safe: asks every running CertificateFileReloader to re-read its files at once
// (within ~250 ms). For the SIGHUP handler.
void RequestCertificateReload();

class CertificateFileReloader {
 public:
  struct Options {
    std::string cert_path;
    std::string key_path;
    std::chrono::milliseconds poll_interval = std::chrono::seconds(2);
    // Where "reloaded ..." and "kept the old certificate: ..." lines go; stderr when empty.
    std::function<void(const std::string&)> log;
  };

  // Loads the pair (an error if it is bad: the server should not start without a certificate),
  // installs it as the store's default and for its names, and starts watching.
  static Result<std::unique_ptr<CertificateFileReloader>> Start(std::shared_ptr<CertificateStore> store,
                                                                Options options);
  ~CertificateFileReloader();  // stops the watcher thread
  CertificateFileReloader(const CertificateFileReloader&) = delete;
  CertificateFileReloader& operator=(const CertificateFileReloader&) = delete;

  // Re-reads now, whether or not the files changed; installs the pair if it is good.
  Status ReloadNow();
  std::shared_ptr<const CertifiedKey> current() const;

 private:
  struct FileStamp {
    bool exists = false;
    unsigned long long inode = 0, size = 0;
    long long mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  CertificateFileReloader(std::shared_ptr<CertificateStore> store, Options options);
  static FileStamp Stamp(const std::string& path);
  void Run();
  void Log(const std::string& line, log::Level level = log::Level::kNotice) const;

  const std::shared_ptr<CertificateStore> store_;
  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::shared_ptr<const CertifiedKey> current_;
  FileStamp cert_stamp_, key_stamp_;
  uint64_t reload_generation_ = 0;  // of RequestCertificateReload, last seen
  std::thread thread_;
};

}  // namespace bastion::tls
