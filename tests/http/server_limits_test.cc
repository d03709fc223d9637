// The server's defences and lifecycle over real sockets: every limit (header bytes and count,
// body size, header/body/idle timeouts, max connections), malformed input, bind errors,
// graceful shutdown (finishing a stream, cancelling one past the deadline), writers that outlive
// the server, and the termination-signal helper.
#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>
#include <random>
#include <string>

#include "server_fixture.h"

namespace bastion::http::testing {
namespace {

ServerLimits TestLimits() {
  ServerLimits l;
  l.max_header_bytes = 1024;
  l.max_header_count = 10;
  l.max_body_bytes = 1024;
  l.header_timeout = Ms(300);
  l.body_timeout = Ms(300);
  l.idle_timeout = Ms(300);
  return l;
}

void Routes(Router& r) {
  r.Add("GET", "/", TextHandler("root"));
  r.Add("POST", "/echo", [](const Request& req, std::shared_ptr<ResponseWriter> w) {
    w->Send(200, "text/plain", req.body);
  });
}

// Sends `bytes` on a fresh connection; expects `status` and then the connection closed.
void ExpectRefused(uint16_t port, const std::string& bytes, int status) {
  TestClient c(port);
  ASSERT_TRUE(c.connected());
  c.Send(bytes);  // may fail part-way when the server already answered and closed
  auto r = c.ReadResponse(Ms(3000));
  ASSERT_TRUE(r) << "no response to: " << bytes.substr(0, 80);
  EXPECT_EQ(r->status, status) << bytes.substr(0, 80) << " -> " << r->body;
  EXPECT_EQ(r->HeaderOr("connection"), "close");
  EXPECT_TRUE(c.WaitClosed(Ms(3000)));
}

TEST_F(ServerTest, OversizedHeaderIs431) {
  Start(Routes, TestLimits());
  ExpectRefused(port(), Get("/", "X-Big: " + std::string(2000, 'a') + "\r\n"), 431);
  ExpectRefused(port(), "GET /" + std::string(2000, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414);
}

TEST_F(ServerTest, TooManyHeadersIs431) {
  Start(Routes, TestLimits());
  std::string extra;
  for (int i = 0; i < 12; ++i) extra += "X-H" + std::to_string(i) + ": v\r\n";
  ExpectRefused(port(), Get("/", extra), 431);
}

TEST_F(ServerTest, BodyTooLargeIs413BeforeTheBodyIsSent) {
  Start(Routes, TestLimits());
  // Only the header: the verdict comes from Content-Length.
  ExpectRefused(port(), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n", 413);
  std::string chunked = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) chunked += "200\r\n" + std::string(512, 'x') + "\r\n";
  ExpectRefused(port(), chunked, 413);
}

TEST_F(ServerTest, SlowlorisHeaderTimeoutIs408) {
  Start(Routes, TestLimits());
  TestClient c(port());
  const auto start = Clock::now();
  const std::string request = Get("/", "X-Padding: " + std::string(200, 'p') + "\r\n");
  // One byte every 30 ms: every read makes progress, but the header as a whole is late.
  std::optional<RawResponse> r;
  for (size_t i = 0; i < request.size() - 1 && Clock::now() - start < Ms(5000); ++i) {
    if (!c.Send(request.substr(i, 1))) break;
    std::this_thread::sleep_for(Ms(30));
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) break;
  }
  r = c.ReadResponse(Ms(3000));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_LT(Clock::now() - start, Ms(2000));
  EXPECT_TRUE(c.WaitClosed(Ms(3000)));
}

TEST_F(ServerTest, SilentConnectionIsClosedAfterTheHeaderTimeout) {
  Start(Routes, TestLimits());
  TestClient c(port());
  std::string leftover;
  EXPECT_TRUE(c.WaitClosed(Ms(3000), &leftover));
  EXPECT_EQ(leftover, "");
}

TEST_F(ServerTest, BodyTimeoutIs408) {
  Start(Routes, TestLimits());
  TestClient c(port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"));
  auto r = c.ReadResponse(Ms(3000));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(c.WaitClosed(Ms(3000)));
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosed) {
  Start(Routes, TestLimits());
  TestClient c(port());
  ASSERT_TRUE(c.Send(Get("/")));
  ASSERT_TRUE(c.ReadResponse());
  const auto start = Clock::now();
  std::string leftover;
  EXPECT_TRUE(c.WaitClosed(Ms(3000), &leftover));
  EXPECT_EQ(leftover, "");  // closed quietly, no 408
  EXPECT_GE(Clock::now() - start, Ms(200));
  EXPECT_EQ(WaitDone(1).size(), 1u);
}

TEST_F(ServerTest, MalformedRequestsGet400AndTheServerKeepsServing) {
  Start(Routes, TestLimits());
  const std::vector<std::pair<std::string, int>> cases = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n\r\n", 400},
      {"GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", 400},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nnope\r\n", 400},
      {std::string("GET /\0 HTTP/1.1\r\nHost: t\r\n\r\n", 26), 400},
  };
  for (const auto& [bytes, status] : cases) ExpectRefused(port(), bytes, status);
  // Random binary input: some response or a close, never a crash or a hang.
  std::mt19937 rng(42);
  for (int i = 0; i < 20; ++i) {
    std::string junk(1 + rng() % 3000, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    TestClient c(port());
    c.Send(junk);
    c.WaitClosed(Ms(3000));
  }
  TestClient c(port());
  ASSERT_TRUE(c.Send(Get("/")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "root");
}

TEST_F(ServerTest, HalfClosedClientStillGetsTheErrorResponse) {
  Start(Routes, TestLimits());
  TestClient c(port());
  ASSERT_TRUE(c.Send("GARBAGE\r\n\r\n"));
  ::shutdown(c.fd(), SHUT_WR);  // like `printf ... | nc -N`
  auto r = c.ReadResponse(Ms(3000));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

TEST_F(ServerTest, ConnectionsBeyondTheLimitGet503) {
  ServerLimits limits;
  limits.max_connections = 2;
  Start(Routes, limits);
  auto a = std::make_unique<TestClient>(port());
  TestClient b(port());
  for (TestClient* c : {a.get(), &b}) {
    ASSERT_TRUE(c->Send(Get("/")));
    ASSERT_TRUE(c->ReadResponse());
  }
  {
    TestClient over(port());
    ASSERT_TRUE(over.Send(Get("/")));
    auto r = over.ReadResponse(Ms(3000));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->HeaderOr("retry-after"), "1");
    EXPECT_TRUE(over.WaitClosed(Ms(3000)));
  }
  a.reset();  // frees a slot once the server notices
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    TestClient c(port());
    c.Send(Get("/"));
    auto r = c.ReadResponse(Ms(1000));
    served = r && r->status == 200;
    if (!served) std::this_thread::sleep_for(Ms(50));
  }
  EXPECT_TRUE(served);
}

TEST(ServerCreateTest, BindErrorsAreClear) {
  auto router = std::make_shared<Router>();
  ServerOptions options;
  auto first = Server::Create(options, router);
  ASSERT_TRUE(first.ok()) << first.error().message();
  ASSERT_NE((*first)->port(), 0);

  options.port = (*first)->port();
  auto second = Server::Create(options, router);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message().find("127.0.0.1:" + std::to_string(options.port)), std::string::npos);
  EXPECT_NE(second.error().message().find("in use"), std::string::npos) << second.error().message();

  if (::geteuid() != 0) {
    ServerOptions privileged;
    privileged.port = 1;
    auto denied = Server::Create(privileged, router);
    ASSERT_FALSE(denied.ok());
    EXPECT_NE(denied.error().message().find("1024"), std::string::npos) << denied.error().message();
  }

  ServerOptions bad_host;
  bad_host.host = "no-such-host.invalid";
  auto unresolved = Server::Create(bad_host, router);
  ASSERT_FALSE(unresolved.ok());
  EXPECT_NE(unresolved.error().message().find("no-such-host.invalid"), std::string::npos);

  ServerOptions bad_threads;
  bad_threads.io_threads = 0;
  EXPECT_FALSE(Server::Create(bad_threads, router).ok());
}

TEST_F(ServerTest, GracefulShutdownLetsAStreamFinish) {
  Event cancelled;
  Start([&](Router& r) {
    r.Add("GET", "/stream", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->OnCancel([&] { cancelled.Set(); });
      w->StartStream(200, "text/plain");
      Spawn([w] {
        for (int i = 0; i < 5; ++i) {
          std::this_thread::sleep_for(Ms(40));
          w->Write("tick" + std::to_string(i) + "\n");
        }
        w->End();
      });
    });
  });
  TestClient streaming(port());
  TestClient idle(port());
  ASSERT_TRUE(idle.Send(Get("/missing")));
  ASSERT_TRUE(idle.ReadResponse());
  ASSERT_TRUE(streaming.Send(Get("/stream")));
  auto head = streaming.ReadHead(Clock::now() + Ms(3000));
  ASSERT_TRUE(head);

  const auto start = Clock::now();
  server_->Shutdown(Ms(3000));
  const auto took = Clock::now() - start;
  EXPECT_LT(took, Ms(2500));
  EXPECT_FALSE(cancelled.IsSet());
  std::string body;
  for (int i = 0; i < 6; ++i) {
    auto chunk = streaming.ReadChunk(Ms(3000));
    ASSERT_TRUE(chunk) << i;
    body += *chunk;
  }
  EXPECT_EQ(body, "tick0\ntick1\ntick2\ntick3\ntick4\n");
  EXPECT_TRUE(streaming.WaitClosed(Ms(3000)));
  EXPECT_TRUE(idle.WaitClosed(Ms(100)));  // closed at once, not after the stream
  TestClient late(port());
  EXPECT_FALSE(late.connected() && late.Send(Get("/")) && late.ReadResponse(Ms(500)));
}

TEST_F(ServerTest, ShutdownCancelsAStreamPastTheDeadline) {
  Event cancelled;
  Start([&](Router& r) {
    r.Add("GET", "/forever", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->OnCancel([&] { cancelled.Set(); });
      w->StartStream(200, "text/plain");
      Spawn([w] {
        const auto until = Clock::now() + Ms(10000);
        while (!w->cancelled() && Clock::now() < until) {
          w->Write("x");
          std::this_thread::sleep_for(Ms(20));
        }
        w->End();  // after cancellation: dropped
      });
    });
  });
  TestClient c(port());
  ASSERT_TRUE(c.Send(Get("/forever")));
  ASSERT_TRUE(c.ReadHead(Clock::now() + Ms(3000)));
  const auto start = Clock::now();
  server_->Shutdown(Ms(300));
  const auto took = Clock::now() - start;
  EXPECT_GE(took, Ms(250));
  EXPECT_LT(took, Ms(2000));
  EXPECT_TRUE(cancelled.WaitFor(Ms(1000)));
  // The body ends without the terminating chunk.
  std::optional<std::string> chunk;
  while ((chunk = c.ReadChunk(Ms(2000))) && !chunk->empty()) {
  }
  EXPECT_FALSE(chunk.has_value());
}

TEST_F(ServerTest, WritersThatOutliveTheServerAreHarmless) {
  std::shared_ptr<ResponseWriter> kept_stream, kept_fresh;
  std::mutex mu;
  Start([&](Router& r) {
    r.Add("GET", "/stream", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->StartStream(200, "text/plain");
      std::lock_guard lock(mu);
      kept_stream = w;
    });
    r.Add("GET", "/fresh", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
      std::lock_guard lock(mu);
      kept_fresh = w;
    });
  });
  TestClient a(port()), b(port());
  ASSERT_TRUE(a.Send(Get("/stream")));
  ASSERT_TRUE(b.Send(Get("/fresh")));
  ASSERT_TRUE(a.ReadHead(Clock::now() + Ms(3000)));
  for (int i = 0; i < 100; ++i) {
    std::lock_guard lock(mu);
    if (kept_fresh) break;
    std::this_thread::sleep_for(Ms(10));
  }
  server_->Shutdown(Ms(50));
  server_.reset();  // the I/O context is gone
  std::lock_guard lock(mu);
  ASSERT_TRUE(kept_stream && kept_fresh);
  EXPECT_TRUE(kept_stream->cancelled());
  EXPECT_FALSE(kept_stream->Write("late"));
  kept_stream->End();
  kept_fresh->Send(200, "text/plain", "late");
  kept_stream.reset();
  kept_fresh.reset();
}

TEST(TerminationSignalsTest, WaitReturnsTheSignal) {
  TerminationSignals signals;
  EXPECT_EQ(signals.WaitFor(Ms(20)), 0);
  std::raise(SIGTERM);  // queued by the handler until waited for
  EXPECT_EQ(signals.WaitFor(Ms(2000)), SIGTERM);
  std::raise(SIGINT);
  EXPECT_EQ(signals.Wait(), SIGINT);
}

}  // namespace
}  // namespace bastion::http::testing
