// CertificateFileReloader (see file_reloader.h).
#include "tls/file_reloader.h"

#include <sys/stat.h>

#include <cstdio>

#include "base/atomic_file.h"

namespace bastion::tls {
namespace {

// Bumped by the signal handler; each reloader compares it with the value it last saw.
std::atomic<uint64_t> g_reload_generation{0};
static_assert(std::atomic<uint64_t>::is_always_lock_free, "the SIGHUP handler needs a lock-free counter");

constexpr auto kSignalCheck = std::chrono::milliseconds(250);

}  // namespace

void RequestCertificateReload() { g_reload_generation.fetch_add(1, std::memory_order_relaxed); }

Result<std::shared_ptr<const CertifiedKey>> LoadCertificateFiles(const std::string& cert_path,
                                                                 const std::string& key_path) {
  auto chain = ReadFile(cert_path, 1 << 20);
  if (!chain.ok()) return chain.error().WithContext("TLS certificate file " + cert_path);
  auto key = ReadFile(key_path, 1 << 20);
  if (!key.ok()) return key.error().WithContext("TLS key file " + key_path);
  auto parsed = CertifiedKey::FromPem(*chain, *key);
  if (!parsed.ok()) return parsed.error().WithContext("TLS files " + cert_path + " + " + key_path);
  return parsed;
}

CertificateFileReloader::CertificateFileReloader(std::shared_ptr<CertificateStore> store, Options options)
    : store_(std::move(store)), options_(std::move(options)) {}

Result<std::unique_ptr<CertificateFileReloader>> CertificateFileReloader::Start(std::shared_ptr<CertificateStore> store,
                                                                                Options options) {
  if (store == nullptr) return Error("certificate reloader: no store");
  std::unique_ptr<CertificateFileReloader> self(new CertificateFileReloader(std::move(store), std::move(options)));
  self->cert_stamp_ = Stamp(self->options_.cert_path);
  self->key_stamp_ = Stamp(self->options_.key_path);
  BASTION_ASSIGN_OR_RETURN(auto cert, LoadCertificateFiles(self->options_.cert_path, self->options_.key_path));
  self->store_->SetDefault(cert);
  self->store_->Put(cert);
  self->current_ = std::move(cert);
  self->reload_generation_ = g_reload_generation.load(std::memory_order_relaxed);
  self->thread_ = std::thread([s = self.get()] { s->Run(); });
  return self;
}

CertificateFileReloader::~CertificateFileReloader() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

CertificateFileReloader::FileStamp CertificateFileReloader::Stamp(const std::string& path) {
  struct stat st {};
  FileStamp s;
  if (::stat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.inode = st.st_ino;
  s.size = static_cast<unsigned long long>(st.st_size);
  s.mtime_ns = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return s;
}

void CertificateFileReloader::Log(const std::string& line, log::Level level) const {
  if (options_.log) return options_.log(line);
  log::Write(level, "tls", line);
}

std::shared_ptr<const CertifiedKey> CertificateFileReloader::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

Status CertificateFileReloader::ReloadNow() {
  auto cert = LoadCertificateFiles(options_.cert_path, options_.key_path);
  if (!cert.ok()) {
    Log("kept the current TLS certificate: " + cert.error().message(), log::Level::kError);
    return cert.error();
  }
  std::shared_ptr<const CertifiedKey> old;
  {
    std::lock_guard lock(mu_);
    old = current_;
    if (old && old->chain_pem() == (*cert)->chain_pem() && old->serial_hex() == (*cert)->serial_hex()) {
      // Same certificate (touched, or rewritten unchanged): nothing to log. The key may still
      // have changed along with it, so install what was read.
      current_ = *cert;
      store_->SetDefault(*cert);
      store_->Put(*cert);
      return OkStatus();
    }
    current_ = *cert;
  }
  store_->SetDefault(*cert);
  store_->Put(*cert);
  Log("reloaded the TLS certificate from " + options_.cert_path + " (serial " + (*cert)->serial_hex() +
      ", names: " + [&] {
        std::string n;
        for (const auto& name : (*cert)->names()) n += (n.empty() ? "" : ", ") + name;
        return n.empty() ? std::string("none") : n;
      }() + ")");
  return OkStatus();
}

void CertificateFileReloader::Run() {
  auto next_poll = std::chrono::steady_clock::now() + options_.poll_interval;
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::min<std::chrono::milliseconds>(kSignalCheck, options_.poll_interval));
    if (stop_) break;
    bool reload = false;
    const uint64_t gen = g_reload_generation.load(std::memory_order_relaxed);
    if (gen != reload_generation_) {
      reload_generation_ = gen;
      reload = true;
    }
    if (std::chrono::steady_clock::now() >= next_poll) {
      next_poll = std::chrono::steady_clock::now() + options_.poll_interval;
      const FileStamp cert = Stamp(options_.cert_path);
      const FileStamp key = Stamp(options_.key_path);
      if (!(cert == cert_stamp_) || !(key == key_stamp_)) {
        cert_stamp_ = cert;
        key_stamp_ = key;
        reload = true;
      }
    }
    if (!reload) continue;
    lock.unlock();
    (void)ReloadNow();
    lock.lock();
  }
}

}  // namespace bastion::tls
