// Real handshakes against http::Server over TLS on 127.0.0.1: the protocol policy, SNI,
// hot swap, TLS-ALPN-01, session resumption, HSTS and request.secure.
#include <gtest/gtest.h>

#include <thread>

#include "http/router.h"
#include "http/server.h"
#include "tls/server_context.h"
#include "tls/x509_issue.h"
#include "tls_test_client.h"

namespace bastion::tls {
namespace {

using testing::Client;
using testing::ClientOptions;

std::shared_ptr<const CertifiedKey> Make(std::vector<std::string> names) {
  auto ck = MakeSelfSignedCertificate(names);
  EXPECT_TRUE(ck.ok()) << ck.error().message();
  return *ck;
}

class TlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_shared<CertificateStore>();
    default_ = Make({"localhost"});
    store_->SetDefault(default_);
    auto context = ServerContext::Create(store_);
    ASSERT_TRUE(context.ok()) << context.error().message();
    context_ = *context;
    auto router = std::make_shared<http::Router>();
    router->Add("GET", "/hello", [](const http::Request& r, std::shared_ptr<http::ResponseWriter> w) {
      w->Send(200, "text/plain", r.secure ? "secure" : "plain");
    });
    http::ServerOptions o;
    o.port = 0;
    o.tls = context_;
    o.hsts = "max-age=31536000";
    o.limits.header_timeout = std::chrono::seconds(2);
    auto server = http::Server::Create(o, router);
    ASSERT_TRUE(server.ok()) << server.error().message();
    server_ = std::move(*server);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(500));
  }

  std::unique_ptr<Client> Connect(const ClientOptions& o = {}) {
    std::string error;
    auto c = Client::Connect(server_->port(), o, &error);
    EXPECT_NE(c, nullptr) << error;
    return c;
  }
  bool Refused(const ClientOptions& o, std::string* error) {
    return Client::Connect(server_->port(), o, error) == nullptr;
  }

  std::shared_ptr<CertificateStore> store_;
  std::shared_ptr<const CertifiedKey> default_;
  std::shared_ptr<ServerContext> context_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(TlsServerTest, ServesHttpsWithHstsAndSecureFlag) {
  auto c = Connect({.alpn = {"h2", "http/1.1"}});
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Version(), "TLSv1.3");
  EXPECT_EQ(c->Alpn(), "http/1.1");
  EXPECT_EQ(c->PeerSerial(), default_->serial_hex());
  const std::string response = c->Get("/hello");
  EXPECT_NE(response.find("HTTP/1.1 200"), std::string::npos) << response;
  EXPECT_NE(response.find("Strict-Transport-Security: max-age=31536000\r\n"), std::string::npos) << response;
  EXPECT_NE(response.find("\r\n\r\nsecure"), std::string::npos) << response;
  // Keep-alive: a second request on the same connection.
  EXPECT_NE(c->Get("/hello").find("secure"), std::string::npos);
}

TEST_F(TlsServerTest, ConnectionCloseEndsWithCloseNotify) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  const auto start = std::chrono::steady_clock::now();
  const std::string response = c->Get("/hello", "localhost", "Connection: close\r\n");
  EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
  EXPECT_NE(response.find("secure"), std::string::npos) << response;
  EXPECT_TRUE(c->ReceivesCloseNotify());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));  // not the linger timeout
}

TEST_F(TlsServerTest, ClientWithoutAlpnIsServed) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Alpn(), "");
  EXPECT_NE(c->Get("/hello").find("secure"), std::string::npos);
}

TEST_F(TlsServerTest, ClientOfferingOnlyOtherProtocolsIsRefused) {
  std::string error;
  EXPECT_TRUE(Refused({.alpn = {"h2"}}, &error));
  EXPECT_NE(error.find("no application protocol"), std::string::npos) << error;
}

TEST_F(TlsServerTest, OldProtocolsAndNonAeadCiphersAreRefused) {
  std::string error;
  EXPECT_TRUE(Refused({.min_version = TLS1_VERSION, .max_version = TLS1_VERSION}, &error)) << "TLS 1.0";
  EXPECT_TRUE(Refused({.min_version = TLS1_1_VERSION, .max_version = TLS1_1_VERSION}, &error)) << "TLS 1.1";
  for (const char* cipher : {"AES128-SHA256", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256",
                             "ECDHE-ECDSA-AES128-SHA256"}) {
    EXPECT_TRUE(Refused({.max_version = TLS1_2_VERSION, .tls12_ciphers = cipher}, &error)) << cipher;
  }
  // What is allowed works with TLS 1.2.
  for (const char* cipher : {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                             "ECDHE-ECDSA-CHACHA20-POLY1305"}) {
    auto c = Connect({.max_version = TLS1_2_VERSION, .tls12_ciphers = cipher});
    ASSERT_NE(c, nullptr) << cipher;
    EXPECT_EQ(c->Version(), "TLSv1.2");
    EXPECT_EQ(c->Cipher(), cipher);
    EXPECT_NE(c->Get("/hello").find("secure"), std::string::npos);
  }
}

TEST_F(TlsServerTest, ServerPrefersItsCipherOrder) {
  auto c = Connect({.max_version = TLS1_2_VERSION,
                    .tls12_ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"});
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Cipher(), "ECDHE-ECDSA-AES128-GCM-SHA256");
}

TEST_F(TlsServerTest, SniSelectsTheCertificate) {
  const auto a = Make({"a.test"});
  const auto wild = Make({"*.b.test"});
  store_->Put(a);
  store_->Put(wild);
  EXPECT_EQ(Connect({.sni = "a.test"})->PeerSerial(), a->serial_hex());
  EXPECT_EQ(Connect({.sni = "x.b.test"})->PeerSerial(), wild->serial_hex());
  EXPECT_EQ(Connect({.sni = "other.test"})->PeerSerial(), default_->serial_hex());
  EXPECT_EQ(Connect()->PeerSerial(), default_->serial_hex());
}

TEST_F(TlsServerTest, NoCertificateAtAllFailsTheHandshakeCleanly) {
  store_->SetDefault(nullptr);
  std::string error;
  EXPECT_TRUE(Refused({.sni = "nothing.test"}, &error));
  store_->SetDefault(default_);
  EXPECT_NE(Connect(), nullptr);
}

TEST_F(TlsServerTest, SwappingACertificateKeepsOpenConnectionsAndChangesNewHandshakes) {
  const auto first = Make({"swap.test"});
  store_->Put(first);
  auto old_connection = Connect({.sni = "swap.test"});
  ASSERT_NE(old_connection, nullptr);
  EXPECT_EQ(old_connection->PeerSerial(), first->serial_hex());
  EXPECT_NE(old_connection->Get("/hello").find("secure"), std::string::npos);

  const auto second = Make({"swap.test"});
  store_->Put(second);
  auto new_connection = Connect({.sni = "swap.test"});
  ASSERT_NE(new_connection, nullptr);
  EXPECT_EQ(new_connection->PeerSerial(), second->serial_hex());
  // The old connection was not dropped and still talks.
  EXPECT_NE(old_connection->Get("/hello").find("secure"), std::string::npos);
  EXPECT_EQ(old_connection->PeerSerial(), first->serial_hex());
}

TEST_F(TlsServerTest, AcmeTlsAlpnGetsTheChallengeCertificateAndIsClosed) {
  const auto real = Make({"acme.test"});
  const auto challenge = Make({"acme.test"});
  store_->Put(real);
  // Without a challenge certificate an acme-tls/1-only client is refused.
  std::string error;
  EXPECT_TRUE(Refused({.sni = "acme.test", .alpn = {"acme-tls/1"}}, &error));

  store_->PutAlpnChallenge("acme.test", challenge);
  auto c = Connect({.sni = "acme.test", .alpn = {"acme-tls/1"}});
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->Alpn(), "acme-tls/1");
  EXPECT_EQ(c->PeerSerial(), challenge->serial_hex());
  EXPECT_TRUE(c->ServerCloses());
  // Normal clients still get the real certificate.
  auto normal = Connect({.sni = "acme.test", .alpn = {"http/1.1"}});
  ASSERT_NE(normal, nullptr);
  EXPECT_EQ(normal->PeerSerial(), real->serial_hex());
  EXPECT_NE(normal->Get("/hello").find("secure"), std::string::npos);
}

TEST_F(TlsServerTest, SessionResumptionWithTicketsAndTheirRotation) {
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SCOPED_TRACE(version == TLS1_2_VERSION ? "TLS 1.2" : "TLS 1.3");
    auto first = Connect({.min_version = version, .max_version = version});
    ASSERT_NE(first, nullptr);
    EXPECT_FALSE(first->Resumed());
    ASSERT_NE(first->Get("/hello").find("secure"), std::string::npos);  // TLS 1.3 tickets arrive by now
    SSL_SESSION* session = first->Session();
    ASSERT_NE(session, nullptr);

    auto second = Connect({.min_version = version, .max_version = version, .session = session});
    ASSERT_NE(second, nullptr);
    EXPECT_TRUE(second->Resumed());
    EXPECT_NE(second->Get("/hello").find("secure"), std::string::npos);
    // TLS 1.3 clients use each ticket once; the server sent a fresh one on resumption.
    SSL_SESSION_free(session);
    session = second->Session();

    // One rotation: the ticket's key is now the previous one, still accepted.
    context_->RotateTicketKeys();
    auto third = Connect({.min_version = version, .max_version = version, .session = session});
    ASSERT_NE(third, nullptr);
    EXPECT_TRUE(third->Resumed());
    SSL_SESSION_free(session);
  }
  // TLS 1.3 ticket after two rotations: its key is gone, a full handshake follows.
  auto fresh = Connect({.min_version = TLS1_3_VERSION});
  ASSERT_NE(fresh->Get("/hello").find("secure"), std::string::npos);
  SSL_SESSION* session = fresh->Session();
  context_->RotateTicketKeys();
  context_->RotateTicketKeys();
  auto after = Connect({.min_version = TLS1_3_VERSION, .session = session});
  ASSERT_NE(after, nullptr);
  EXPECT_FALSE(after->Resumed());
  SSL_SESSION_free(session);
}

TEST_F(TlsServerTest, SilentClientIsDroppedAfterTheHandshakeTimeout) {
  // A TCP connection that never sends a ClientHello holds no resources past the header timeout.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server_->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[8];
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(::recv(fd, buf, sizeof buf, 0), 0);  // closed by the server
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(4500));
  ::close(fd);
}

}  // namespace
}  // namespace bastion::tls
