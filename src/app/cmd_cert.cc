// `bastion cert`: the ACME certificates in the state directory.
//
//   bastion cert status [--state-dir DIR]
//   bastion cert renew [--force] --domain D [--domain ...] [--email E] [--acme-ca URL|staging]
//                      [--acme-ca-root PEM] [--state-dir DIR] [--http-port N]
//
// Both work next to a `bastion serve` on the same state directory. `renew` goes through the same
// CertManager code as the server (lock, re-check unless --force, order, write); the server sees
// the new cert.pem within ~2 s and swaps it in. Challenges: when a server runs on the state
// directory it owns ports 80/443, so `renew` hands each challenge to it through
// <state>/acme/challenges (certs/challenge_handoff.h); otherwise `renew` answers HTTP-01 itself
// on --http-port (80 by default, which needs root or CAP_NET_BIND_SERVICE).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "app/cli_common.h"
#include "base/atomic_file.h"
#include "certs/cert_manager.h"
#include "certs/cert_storage.h"
#include "certs/challenge_handoff.h"
#include "http/acme_http01.h"
#include "http/router.h"
#include "http/server.h"

namespace bastion::cli {
namespace {

using certs::FormatTime;
using certs::TimePoint;

struct CertArgs {
  std::string state_dir;
  // renew
  bool force = false;
  std::vector<std::string> domains;
  std::string email;
  std::string acme_ca;
  std::string acme_ca_root;
  int http_port = 80;
};

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string Relative(TimePoint now, TimePoint t) {
  const double days = std::chrono::duration<double>(t - now).count() / 86400.0;
  char buf[64];
  if (days >= 1 || days <= -1) {
    std::snprintf(buf, sizeof buf, days >= 0 ? "in %.1f days" : "%.1f days ago", days >= 0 ? days : -days);
  } else {
    const double hours = days * 24;
    std::snprintf(buf, sizeof buf, hours >= 0 ? "in %.1f h" : "%.1f h ago", hours >= 0 ? hours : -hours);
  }
  return buf;
}

std::string When(TimePoint now, TimePoint t) { return FormatTime(t) + " (" + Relative(now, t) + ")"; }

int RunStatus(const CertArgs& a) {
  auto state = ResolveStateDir(a.state_dir);
  if (!state.ok()) return Fail(state.error());
  const TimePoint now = std::chrono::system_clock::now();
  const auto stored = certs::ListStoredCertificates(*state);
  if (stored.empty()) {
    std::printf("no ACME certificates in %s/certs\n", state->c_str());
    return kExitOk;
  }
  bool first = true;
  for (const certs::CertPaths& p : stored) {
    if (!first) std::printf("\n");
    first = false;
    std::printf("%s\n", p.dir.c_str());
    // meta.json alone (schedule, last error) is shown even when there is no usable certificate,
    // e.g. after the first order failed.
    std::optional<certs::CertMeta> meta;
    if (FileExists(p.meta)) {
      if (auto text = ReadFile(p.meta, 1 << 20); text.ok()) {
        if (auto m = certs::MetaFromJson(*text); m.ok()) meta = std::move(*m);
      }
    }
    auto cert = certs::LoadCertificateFiles(p);
    if (cert.ok()) {
      const tls::CertifiedKey& c = *cert->cert;
      std::printf("  names:        %s\n", Join(c.names()).c_str());
      std::printf("  issuer:       %s\n", c.issuer().c_str());
      std::printf("  not after:    %s%s\n", When(now, c.not_after()).c_str(), now >= c.not_after() ? "  EXPIRED" : "");
      if (cert->meta_was_stale) meta.reset();  // describes another certificate
    } else {
      std::printf("  certificate:  none usable (%s)\n", cert.error().message().c_str());
    }
    if (meta) {
      if (!meta->domains.empty() && !cert.ok()) std::printf("  domains:      %s\n", Join(meta->domains).c_str());
      if (!meta->directory_url.empty()) std::printf("  CA:           %s\n", meta->directory_url.c_str());
      if (meta->ari_window_start && meta->ari_window_end) {
        std::printf("  ARI window:   %s .. %s\n", FormatTime(*meta->ari_window_start).c_str(),
                    FormatTime(*meta->ari_window_end).c_str());
      }
    }
    std::optional<TimePoint> next = meta ? meta->next_renewal : std::nullopt;
    if (!next && cert.ok()) next = cert->cert->not_after() - cert->cert->lifetime() / 3;
    if (next) std::printf("  next renewal: %s\n", When(now, *next).c_str());
    if (meta && !meta->last_error.empty()) {
      std::printf("  last error:   %s\n", meta->last_error.c_str());
      if (meta->last_error_at) std::printf("                at %s", FormatTime(*meta->last_error_at).c_str());
      if (meta->consecutive_failures > 0) std::printf(", %d failure(s) in a row", meta->consecutive_failures);
      if (meta->next_attempt) std::printf(", next attempt %s", When(now, *meta->next_attempt).c_str());
      std::printf("\n");
    } else {
      std::printf("  last error:   none\n");
    }
  }
  return kExitOk;
}

// Answers HTTP-01 on our own plain-HTTP listener (no server runs on this state directory).
class StandaloneHttp01Solver : public acme::ChallengeSolver {
 public:
  explicit StandaloneHttp01Solver(std::shared_ptr<http::AcmeHttp01Responder> responder)
      : responder_(std::move(responder)) {}
  std::vector<acme::ChallengeType> Supported() const override { return {acme::ChallengeType::kHttp01}; }
  Status Present(acme::ChallengeType type, const std::string& /*domain*/, const std::string& token,
                 const std::string& key_authorization) override {
    if (type != acme::ChallengeType::kHttp01) return Error("`bastion cert renew` alone answers only http-01");
    responder_->Put(token, key_authorization);
    return OkStatus();
  }
  void CleanUp(acme::ChallengeType /*type*/, const std::string& /*domain*/, const std::string& token) override {
    responder_->Remove(token);
  }

 private:
  std::shared_ptr<http::AcmeHttp01Responder> responder_;
};

Result<std::unique_ptr<http::Server>> StartHttp01Listener(int port, std::shared_ptr<http::AcmeHttp01Responder> responder) {
  auto router = std::make_shared<http::Router>();
  router->Add("GET", std::string(http::AcmeHttp01Responder::kPathPrefix) + "{token}",
              [responder](const http::Request& request, std::shared_ptr<http::ResponseWriter> writer) {
                const std::string* token = request.PathParam("token");
                auto answer = token != nullptr ? responder->Find(*token) : std::nullopt;
                if (!answer) {
                  writer->Send(404, "text/plain", "unknown challenge\n");
                  return;
                }
                writer->Send(200, "text/plain", *answer);
              });
  http::ServerOptions options;
  options.host = "::";  // dual-stack: the CA may validate over IPv4 or IPv6
  options.port = static_cast<uint16_t>(port);
  options.io_threads = 1;
  return http::Server::Create(options, router);
}

int RunRenew(const CertArgs& a) {
  auto state = ResolveStateDir(a.state_dir);
  if (!state.ok()) return Fail(state.error());
  const auto domains = certs::NormalizeDomains(a.domains);
  if (domains.empty()) return Fail("bastion cert renew needs at least one --domain");
  if (Status st = MakeDirectories(*state, 0700); !st.ok()) return Fail(st.error());

  // Who answers the CA's validation requests: a server running on this state directory (it has
  // the ports), else our own HTTP-01 listener.
  std::unique_ptr<acme::ChallengeSolver> solver;
  std::unique_ptr<http::Server> listener;
  const std::string handoff_dir = certs::ChallengeHandoffDir(*state);
  if (certs::ServerIsRunning(handoff_dir)) {
    std::fprintf(stderr, "bastion: a server is running on %s: it answers the challenges\n", state->c_str());
    solver = std::make_unique<certs::FileChallengeSolver>(handoff_dir);
  } else {
    auto responder = std::make_shared<http::AcmeHttp01Responder>();
    auto server = StartHttp01Listener(a.http_port, responder);
    if (!server.ok()) {
      return Fail("no server runs on " + *state + " to answer the challenges, and answering HTTP-01 here failed: " +
                  server.error().message() +
                  " (run as root or with CAP_NET_BIND_SERVICE, or start `bastion serve` on this state directory)");
    }
    listener = std::move(*server);
    std::fprintf(stderr, "bastion: answering HTTP-01 on port %u\n", listener->port());
    solver = std::make_unique<StandaloneHttp01Solver>(responder);
  }

  certs::CertManagerOptions o;
  o.state_dir = *state;
  o.domains = domains;
  o.acme.directory_url = certs::ResolveAcmeDirectoryUrl(a.acme_ca);
  o.acme.ca_root_file = a.acme_ca_root;
  o.acme.email = a.email;
  if (listener) o.challenge_order = {acme::ChallengeType::kHttp01};
  o.answer_handoff_challenges = false;
  // A server on this directory may be ordering the same certificate right now: wait for it and
  // then re-check (its result usually makes ours unnecessary).
  o.lock_wait = std::chrono::minutes(15);
  auto manager = certs::CertManager::Create(std::move(o), *solver, /*store=*/nullptr);
  if (!manager.ok()) return Fail(manager.error());
  auto outcome = (*manager)->RenewNow(a.force);
  if (listener) listener->Shutdown(std::chrono::seconds(1));
  if (!outcome.ok()) return Fail("renewing the certificate for " + Join(domains) + ": " + outcome.error().message());
  const auto s = (*manager)->status();
  const TimePoint now = std::chrono::system_clock::now();
  switch (*outcome) {
    case certs::RenewOutcome::kRenewed:
      std::printf("renewed %s: valid until %s, stored in %s\n", Join(s.names).c_str(), FormatTime(s.not_after).c_str(),
                  (*manager)->paths().dir.c_str());
      if (certs::ServerIsRunning(handoff_dir)) std::printf("the running server picks it up within seconds\n");
      break;
    case certs::RenewOutcome::kNotDue:
      std::printf("%s is valid until %s and not due for renewal until %s (use --force to renew now)\n",
                  Join(s.names).c_str(), FormatTime(s.not_after).c_str(),
                  s.next_renewal ? When(now, *s.next_renewal).c_str() : "later");
      break;
    case certs::RenewOutcome::kRenewedByOther:
      std::printf("another bastion process renewed %s just now: valid until %s\n", Join(s.names).c_str(),
                  FormatTime(s.not_after).c_str());
      break;
  }
  return kExitOk;
}

}  // namespace

Command AddCertCommand(CLI::App& root) {
  auto args = std::make_shared<CertArgs>();
  CLI::App* app = root.add_subcommand("cert", "Show or renew the ACME (Let's Encrypt) certificates in the state directory");
  app->require_subcommand(1);

  CLI::App* status = app->add_subcommand("status", "Names, issuer, expiry, next renewal and last error of each certificate");
  status->add_option("--state-dir", args->state_dir, "State directory (default: $BASTION_HOME or ~/.bastion)");

  CLI::App* renew = app->add_subcommand(
      "renew", "Renew a certificate now (works next to a running server, which picks it up within seconds)");
  renew->add_flag("--force", args->force, "Renew even when the certificate is not due");
  renew->add_option("--domain", args->domains, "Domain name (repeat for more; the first names the certificate)")
      ->required();
  renew->add_option("--email", args->email, "ACME account contact e-mail");
  renew->add_option("--acme-ca", args->acme_ca, "ACME directory URL, or 'staging' (default: Let's Encrypt)");
  renew->add_option("--acme-ca-root", args->acme_ca_root, "PEM file trusted for the CA's HTTPS endpoint (Pebble)");
  renew->add_option("--state-dir", args->state_dir, "State directory (default: $BASTION_HOME or ~/.bastion)");
  renew->add_option("--http-port", args->http_port,
                    "Port to answer HTTP-01 on when no server runs on the state directory")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();

  return {app, [args, status, renew] {
            if (status->parsed()) return RunStatus(*args);
            if (renew->parsed()) return RunRenew(*args);
            return kExitUsage;
          }};
}

}  // namespace bastion::cli
