// The local CA (see local_ca.h).
#include "tls/local_ca.h"

#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "base/atomic_file.h"
#include "base/check.h"
#include "tls/openssl_util.h"
#include "tls/x509_issue.h"

namespace bastion::tls {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "";
  return Lower(buf);
}

void AddUnique(std::vector<std::string>* names, const std::string& name) {
  if (std::find(names->begin(), names->end(), name) == names->end()) names->push_back(name);
}

// Why the stored leaf must be replaced, or "" when it is still good.
std::string LeafProblem(const CertifiedKey& leaf, const CertifiedKey& ca, const std::vector<std::string>& names,
                        std::chrono::system_clock::time_point now) {
  if (X509_verify(leaf.leaf(), X509_get0_pubkey(ca.leaf())) != 1) {
    internal::OpenSslErrors();
    return "it was not issued by the current local CA";
  }
  for (const std::string& name : names) {
    if (std::find(leaf.names().begin(), leaf.names().end(), name) == leaf.names().end()) {
      return "it does not cover " + name;
    }
  }
  if (now < leaf.not_before()) return "it is not valid yet";
  if (leaf.not_after() - now < leaf.lifetime() / 3) return "a third or less of its lifetime is left";
  return "";
}

}  // namespace

std::vector<std::string> LocalCertificateNames(const std::string& listen_host) {
  std::vector<std::string> names = {"localhost", "127.0.0.1", "::1"};
  const std::string host = HostName();
  if (IsValidDnsName(host)) AddUnique(&names, host);
  const std::string listen = Lower(listen_host);
  if (listen != "0.0.0.0" && listen != "::" && !listen.empty() && (IsIpLiteral(listen) || IsValidDnsName(listen))) {
    AddUnique(&names, listen);
  }
  return names;
}

Result<LocalCertificate> EnsureLocalCertificate(const std::string& state_dir, const std::vector<std::string>& names,
                                                const LocalCaOptions& options) {
  const std::string ca_dir = state_dir + "/tls/local-ca";
  const std::string leaf_dir = state_dir + "/tls/local";
  BASTION_RETURN_IF_ERROR(MakeDirectories(ca_dir, 0700));
  BASTION_RETURN_IF_ERROR(MakeDirectories(leaf_dir, 0700));
  BASTION_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(ca_dir + "/lock", std::chrono::seconds(30)));

  LocalCertificate out;
  out.ca_cert_path = ca_dir + "/ca.crt";
  const std::string ca_key_path = ca_dir + "/ca.key";
  out.leaf_cert_path = leaf_dir + "/cert.pem";
  out.leaf_key_path = leaf_dir + "/key.pem";

  std::shared_ptr<const CertifiedKey> ca;
  if (FileExists(out.ca_cert_path) || FileExists(ca_key_path)) {
    // Never replace a CA silently: users have trusted this one.
    BASTION_ASSIGN_OR_RETURN(std::string cert_pem, ReadFile(out.ca_cert_path));
    BASTION_ASSIGN_OR_RETURN(std::string key_pem, ReadFile(ca_key_path));
    auto parsed = CertifiedKey::FromPem(cert_pem, key_pem);
    if (!parsed.ok()) {
      return parsed.error().WithContext("the local CA in " + ca_dir +
                                        " is unusable (remove the directory to make a new one; clients must then "
                                        "trust the new ca.crt)");
    }
    ca = *parsed;
    if ((*parsed)->not_after() <= options.now) {
      return Error("the local CA in " + ca_dir + " has expired; remove the directory to make a new one");
    }
  } else {
    const std::string host = HostName();
    CertificateSpec spec;
    spec.common_name = "bastion local CA " + (host.empty() ? std::string("localhost") : host);
    spec.is_ca = true;
    spec.not_before = options.now - std::chrono::hours(1);
    spec.not_after = options.now + options.ca_lifetime;
    BASTION_ASSIGN_OR_RETURN(IssuedPem pem, IssueCertificate(spec, nullptr));
    // Key first: a crash between the two writes leaves no certificate without its key.
    BASTION_RETURN_IF_ERROR(WriteFileAtomic(ca_key_path, pem.key_pem, 0600));
    BASTION_RETURN_IF_ERROR(WriteFileAtomic(out.ca_cert_path, pem.cert_pem, 0644));
    BASTION_ASSIGN_OR_RETURN(ca, CertifiedKey::FromPem(pem.cert_pem, pem.key_pem));
    out.created_ca = true;
  }
  BASTION_CHECK(ca != nullptr);
  {
    internal::BioPtr bio(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(bio.get(), X509_get_subject_name(ca->leaf()), 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
    out.ca_name = internal::BioText(bio.get());
  }

  if (FileExists(out.leaf_cert_path) && FileExists(out.leaf_key_path)) {
    auto cert_pem = ReadFile(out.leaf_cert_path);
    auto key_pem = ReadFile(out.leaf_key_path);
    if (cert_pem.ok() && key_pem.ok()) {
      auto leaf = CertifiedKey::FromPem(*cert_pem, *key_pem);
      if (leaf.ok() && LeafProblem(**leaf, *ca, names, options.now).empty()) {
        out.leaf = *leaf;
        return out;
      }
    }
  }
  CertificateSpec spec;
  spec.common_name = names.empty() ? "localhost" : names.front();
  spec.names = names;
  spec.not_before = options.now - std::chrono::hours(1);
  spec.not_after = std::min(options.now + options.leaf_lifetime, ca->not_after());
  BASTION_ASSIGN_OR_RETURN(IssuedPem pem, IssueCertificate(spec, ca.get()));
  BASTION_RETURN_IF_ERROR(WriteFileAtomic(out.leaf_key_path, pem.key_pem, 0600));
  BASTION_RETURN_IF_ERROR(WriteFileAtomic(out.leaf_cert_path, pem.cert_pem, 0644));
  BASTION_ASSIGN_OR_RETURN(out.leaf, CertifiedKey::FromPem(pem.cert_pem, pem.key_pem));
  out.issued_leaf = true;
  return out;
}

std::string TrustInstructions(const std::string& ca) {
  return "  curl:     curl --cacert " + ca +
         " https://localhost:PORT/\n"
         "  Node.js:  NODE_EXTRA_CA_CERTS=" + ca +
         " node app.js\n"
         "  Python:   SSL_CERT_FILE=" + ca + " (or requests: REQUESTS_CA_BUNDLE=" + ca +
         ")\n"
         "  Debian/Ubuntu, system-wide (as root): cp " + ca +
         " /usr/local/share/ca-certificates/bastion.crt && update-ca-certificates\n";
}

}  // namespace bastion::tls
