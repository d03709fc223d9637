// The server over real sockets on 127.0.0.1: requests and responses, keep-alive, pipelining
// order, streaming from another thread, cancellation when the client leaves, error shapes, HEAD,
// HTTP/1.0, request ids, 100-continue, and handlers that throw or never answer.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>

#include "server_fixture.h"

namespace bastion::http::testing {
namespace {

TEST_F(ServerTest, SimpleGetAndPost) {
  Start([](Router& r) {
    r.Add("GET", "/hello", TextHandler("hi there"));
    r.Add("POST", "/echo", [](const Request& req, std::shared_ptr<ResponseWriter> w) {
      w->Send(201, "application/json", req.body, {{"X-Custom", "1"}});
    });
  });
  TestClient c(port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(Get("/hello")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hi there");
  EXPECT_EQ(r->HeaderOr("content-type"), "text/plain");
  EXPECT_EQ(r->HeaderOr("content-length"), "8");
  EXPECT_EQ(r->HeaderOr("server"), "bastion");
  EXPECT_EQ(r->HeaderOr("x-request-id").size(), 32u);
  EXPECT_NE(r->Header("date"), nullptr);
  EXPECT_EQ(r->Header("connection"), nullptr);

  ASSERT_TRUE(c.Send(Post("/echo", "{\"a\":1}")));
  r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "{\"a\":1}");
  EXPECT_EQ(r->HeaderOr("x-custom"), "1");
}

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  std::atomic<int> count{0};
  Start([&](Router& r) {
    r.Add("GET", "/n", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->Send(200, "text/plain", std::to_string(++count));
    });
  });
  TestClient c(port());
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(c.Send(Get("/n")));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->body, std::to_string(i));
  }
  EXPECT_EQ(server_->connection_count(), 1);
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  std::atomic<bool> slow_answered{false};
  std::atomic<bool> fast_ran_early{false};
  Start([&](Router& r) {
    r.Add("GET", "/slow", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
      Spawn([&, w] {
        std::this_thread::sleep_for(Ms(150));
        slow_answered = true;
        w->Send(200, "text/plain", "slow");
      });
    });
    r.Add("GET", "/fast", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
      if (!slow_answered) fast_ran_early = true;
      w->Send(200, "text/plain", "fast");
    });
  });
  TestClient c(port());
  ASSERT_TRUE(c.Send(Get("/slow") + Get("/fast") + Post("/fast", "")));
  auto first = c.ReadResponse();
  auto second = c.ReadResponse();
  auto third = c.ReadResponse();
  ASSERT_TRUE(first && second && third);
  EXPECT_EQ(first->body, "slow");
  EXPECT_EQ(second->body, "fast");
  EXPECT_EQ(third->status, 405);
  EXPECT_FALSE(fast_ran_early) << "a pipelined request was handled before the previous response";
}

TEST_F(ServerTest, StreamFromAnotherThreadIsFlushedPerWrite) {
  std::atomic<int> acked{0};
  Start([&](Router& r) {
    r.Add("POST", "/stream", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->StartStream(200, "application/x-ndjson");
      Spawn([&, w] {
        for (int i = 0; i < 4; ++i) {
          EXPECT_TRUE(w->Write("{\"n\":" + std::to_string(i) + "}\n"));
          // The next line is written only once the client has seen this one: if Write did not
          // flush, the test would time out here.
          const auto until = Clock::now() + Ms(5000);
          while (acked.load() <= i && Clock::now() < until) std::this_thread::sleep_for(Ms(1));
        }
        w->End();
      });
    });
    r.Add("GET", "/after", TextHandler("still alive"));
  });
  TestClient c(port());
  ASSERT_TRUE(c.Send(Post("/stream", "{}")));
  auto head = c.ReadHead(Clock::now() + Ms(5000));
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->chunked);
  EXPECT_EQ(head->HeaderOr("content-type"), "application/x-ndjson");
  for (int i = 0; i < 4; ++i) {
    auto chunk = c.ReadChunk(Ms(3000));
    ASSERT_TRUE(chunk) << i;
    EXPECT_EQ(*chunk, "{\"n\":" + std::to_string(i) + "}\n");
    acked = i + 1;
  }
  auto last = c.ReadChunk(Ms(3000));
  ASSERT_TRUE(last);
  EXPECT_EQ(*last, "");
  ASSERT_TRUE(c.Send(Get("/after")));  // keep-alive after a chunked response
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "still alive");
}

// The client goes away in the middle of a stream: OnCancel fires, cancelled() turns true and
// Write reports it — the engine can free the slot.
TEST_F(ServerTest, ClientCloseMidStreamFiresOnCancel) {
  std::promise<std::shared_ptr<ResponseWriter>> writer_promise;
  Event cancelled;
  Start([&](Router& r) {
    r.Add("GET", "/stream", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->OnCancel([&] { cancelled.Set(); });
      w->StartStream(200, "text/event-stream");
      w->Write("data: first\n\n");
      writer_promise.set_value(w);
    });
  });
  auto writer = writer_promise.get_future();
  {
    TestClient c(port());
    ASSERT_TRUE(c.Send(Get("/stream")));
    ASSERT_TRUE(c.ReadHead(Clock::now() + Ms(3000)));
    ASSERT_EQ(c.ReadChunk(Ms(3000)).value_or(""), "data: first\n\n");
  }  // FIN
  ASSERT_TRUE(cancelled.WaitFor(Ms(3000)));
  auto w = writer.get();
  EXPECT_TRUE(w->cancelled());
  EXPECT_FALSE(w->Write("data: more\n\n"));
  w->End();  // accepted and dropped
  const auto done = WaitDone(1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].status, 200);
}

TEST_F(ServerTest, ClientResetMidStreamFiresOnCancel) {
  std::shared_ptr<ResponseWriter> kept;
  std::mutex mu;
  Event cancelled;
  Start([&](Router& r) {
    r.Add("GET", "/stream", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->StartStream(200, "text/event-stream");
      w->Write("x");
      std::lock_guard lock(mu);
      kept = w;
    });
  });
  TestClient c(port());
  ASSERT_TRUE(c.Send(Get("/stream")));
  ASSERT_TRUE(c.ReadHead(Clock::now() + Ms(3000)));
  ASSERT_TRUE(c.ReadChunk(Ms(3000)));
  {
    std::lock_guard lock(mu);
    ASSERT_TRUE(kept);
    kept->OnCancel([&] { cancelled.Set(); });  // registered from "the engine thread"
  }
  c.Reset();  // RST
  ASSERT_TRUE(cancelled.WaitFor(Ms(3000)));
  // Registering after the fact runs the callback at once.
  Event late;
  kept->OnCancel([&] { late.Set(); });
  EXPECT_TRUE(late.IsSet());
}

TEST_F(ServerTest, DisconnectBeforeAnyResponseCancelsWith499) {
  Event cancelled;
  std::shared_ptr<ResponseWriter> kept;
  Start([&](Router& r) {
    r.Add("POST", "/api/generate", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->OnCancel([&] { cancelled.Set(); });
      kept = w;  // "queued in the engine", no answer yet
    });
  });
  {
    TestClient c(port());
    ASSERT_TRUE(c.Send(Post("/api/generate", "{}")));
    std::this_thread::sleep_for(Ms(50));
  }
  ASSERT_TRUE(cancelled.WaitFor(Ms(3000)));
  const auto done = WaitDone(1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].status, 499);
  EXPECT_EQ(done[0].path, "/api/generate");
  kept->Send(200, "text/plain", "too late");  // dropped, no crash
}

TEST_F(ServerTest, NotFoundAndMethodNotAllowedUseTheErrorResponder) {
  Start([](Router& r) {
    r.Add("GET", "/api/tags", TextHandler("tags"));
    r.Add("GET", "/v1/models", TextHandler("models"));
    r.SetErrorResponder([](const Request& req, int status, std::string_view message) {
      if (req.path.rfind("/v1/", 0) == 0) {
        return ErrorBody{"application/json", "{\"error\":{\"message\":\"" + std::string(message) +
                                                  "\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"" +
                                                  std::to_string(status) + "\"}}"};
      }
      return ErrorBody{"application/json", "{\"error\":\"" + std::string(message) + "\"}"};
    });
  });
  TestClient c(port());
  ASSERT_TRUE(c.Send(Get("/v1/nope") + Get("/api/nope") + Post("/api/tags", "{}")));
  auto openai = c.ReadResponse();
  auto ollama = c.ReadResponse();
  auto method = c.ReadResponse();
  ASSERT_TRUE(openai && ollama && method);
  EXPECT_EQ(openai->status, 404);
  EXPECT_NE(openai->body.find("\"type\":\"invalid_request_error\""), std::string::npos) << openai->body;
  EXPECT_EQ(ollama->status, 404);
  EXPECT_EQ(ollama->body.rfind("{\"error\":\"no such endpoint", 0), 0u) << ollama->body;
  EXPECT_EQ(method->status, 405);
  EXPECT_EQ(method->HeaderOr("allow"), "GET, HEAD, OPTIONS");
}

TEST_F(ServerTest, HeadSendsHeadersWithoutBody) {
  Start([this](Router& r) {
    r.Add("GET", "/data", TextHandler("0123456789"));
    r.Add("GET", "/stream", [this](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->StartStream(200, "text/plain");
      Spawn([w] {
        std::this_thread::sleep_for(Ms(30));  // End arrives after the head was written
        w->Write("body");
        w->End();
      });
    });
  });
  TestClient c(port());
  ASSERT_TRUE(c.Send("HEAD /data HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto head = c.ReadResponse(Ms(3000), /*head_request=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->HeaderOr("content-length"), "10");
  ASSERT_TRUE(c.Send("HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(c.ReadResponse(Ms(3000), true));
  // No stray body bytes: the next response parses cleanly.
  ASSERT_TRUE(c.Send(Get("/data")));
  auto get = c.ReadResponse();
  ASSERT_TRUE(get);
  EXPECT_EQ(get->body, "0123456789");
}

TEST_F(ServerTest, Http10GetsCloseDelimitedStreamAndClose) {
  Start([&](Router& r) {
    r.Add("GET", "/stream", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->StartStream(200, "text/plain");
      Spawn([w] {
        w->Write("one ");
        std::this_thread::sleep_for(Ms(20));
        w->Write("two");
        w->End();
      });
    });
    r.Add("GET", "/plain", TextHandler("plain"));
  });
  {
    TestClient c(port());
    ASSERT_TRUE(c.Send("GET /stream HTTP/1.0\r\n\r\n"));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->Header("transfer-encoding"), nullptr);
    EXPECT_EQ(r->Header("content-length"), nullptr);
    EXPECT_EQ(r->HeaderOr("connection"), "close");
    EXPECT_EQ(r->body, "one two");
  }
  TestClient c(port());
  ASSERT_TRUE(c.Send("GET /plain HTTP/1.0\r\n\r\n"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "plain");
  EXPECT_EQ(r->HeaderOr("connection"), "close");
  EXPECT_TRUE(c.WaitClosed(Ms(3000)));
}

TEST_F(ServerTest, ConnectionCloseIsHonoured) {
  Start([](Router& r) { r.Add("GET", "/", TextHandler("x")); });
  TestClient c(port());
  ASSERT_TRUE(c.Send(Get("/", "Connection: close\r\n") + Get("/")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->HeaderOr("connection"), "close");
  std::string rest;
  EXPECT_TRUE(c.WaitClosed(Ms(3000), &rest));
  EXPECT_EQ(rest, "");  // the pipelined second request was not answered
}

TEST_F(ServerTest, RequestFieldsAndRequestIds) {
  Start([](Router& r) {
    r.Add("GET", "/v1/models/{id}", [](const Request& req, std::shared_ptr<ResponseWriter> w) {
      w->Send(200, "text/plain",
              req.remote_address + "|" + std::to_string(req.remote_port != 0) + "|" + req.path + "|" +
                  *req.PathParam("id") + "|" + req.QueryParam("q") + "|" + std::to_string(req.secure) + "|" +
                  req.request_id);
    });
  });
  TestClient c(port());
  ASSERT_TRUE(c.Send(Get("/v1/models/qwen%202.5?q=a+b")));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  const std::string id = r->HeaderOr("x-request-id");
  EXPECT_EQ(r->body, "127.0.0.1|1|/v1/models/qwen 2.5|qwen 2.5|a b|0|" + id);

  ASSERT_TRUE(c.Send(Get("/v1/models/x", "X-Request-Id: client-id_42\r\n")));
  r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->HeaderOr("x-request-id"), "client-id_42");
  ASSERT_TRUE(c.Send(Get("/v1/models/x", "X-Request-Id: bad id <script>\r\n")));
  r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->HeaderOr("x-request-id").size(), 32u);
}

TEST_F(ServerTest, ExpectContinueGets100BeforeTheBody) {
  Start([](Router& r) {
    r.Add("POST", "/echo", [](const Request& req, std::shared_ptr<ResponseWriter> w) {
      w->Send(200, "text/plain", req.body);
    });
  });
  TestClient c(port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = c.ReadResponse();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.Send("hello"));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
}

TEST_F(ServerTest, HandlerThatThrowsOrDropsTheWriterGets500) {
  Start([](Router& r) {
    r.Add("GET", "/throw", [](const Request&, std::shared_ptr<ResponseWriter>) { throw std::runtime_error("boom"); });
    r.Add("GET", "/drop", [](const Request&, std::shared_ptr<ResponseWriter>) {});
    r.Add("GET", "/ok", TextHandler("ok"));
  });
  TestClient c(port());
  for (const char* path : {"/throw", "/drop"}) {
    ASSERT_TRUE(c.Send(Get(path)));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 500) << path;
    EXPECT_NE(r->body.find("\"error\""), std::string::npos);
  }
  ASSERT_TRUE(c.Send(Get("/ok")));  // the connection is still usable
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "ok");
}

TEST_F(ServerTest, WriterDroppedMidStreamTruncatesTheBody) {
  Start([](Router& r) {
    r.Add("GET", "/stream", [](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->StartStream(200, "text/plain");
      w->Write("partial");
      // Dropped without End: the client must not see a complete body.
    });
  });
  TestClient c(port());
  ASSERT_TRUE(c.Send(Get("/stream")));
  ASSERT_TRUE(c.ReadHead(Clock::now() + Ms(3000)));
  EXPECT_EQ(c.ReadChunk(Ms(3000)).value_or(""), "partial");
  EXPECT_FALSE(c.ReadChunk(Ms(3000)).has_value());  // EOF, no terminating chunk
}

TEST_F(ServerTest, LargeStreamToASlowReaderArrivesIntact) {
  constexpr int kChunks = 64;
  constexpr size_t kChunkBytes = 64 * 1024;
  Start([&](Router& r) {
    r.Add("GET", "/big", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->StartStream(200, "application/octet-stream");
      Spawn([w] {
        for (int i = 0; i < kChunks; ++i) w->Write(std::string(kChunkBytes, static_cast<char>('a' + i % 26)));
        w->End();
      });
    });
  });
  TestClient c(port());
  ASSERT_TRUE(c.Send(Get("/big")));
  std::this_thread::sleep_for(Ms(200));  // let the queue build up behind a full socket
  auto r = c.ReadResponse(Ms(20000));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->body.size(), kChunks * kChunkBytes);
  for (int i = 0; i < kChunks; ++i) ASSERT_EQ(r->body[i * kChunkBytes], static_cast<char>('a' + i % 26));
  const auto done = WaitDone(1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_GT(done[0].bytes, kChunks * kChunkBytes);
}

// Many clients at once, mixing plain requests, streams answered from other threads and clients
// that vanish mid-stream: every completed response is right, and (under ASan/UBSan) nothing races.
TEST_F(ServerTest, ConcurrentClientsMixingStreamsAndDisconnects) {
  std::atomic<int> cancels{0};
  Start([&](Router& r) {
    r.Add("GET", "/plain", TextHandler("plain"));
    r.Add("GET", "/stream", [&](const Request& req, std::shared_ptr<ResponseWriter> w) {
      w->OnCancel([&] { ++cancels; });
      w->StartStream(200, "text/plain");
      const int n = std::atoi(req.QueryParam("n").c_str());
      Spawn([w, n] {
        for (int i = 0; i < n && w->Write(std::to_string(i) + ","); ++i) std::this_thread::yield();
        w->End();
      });
    });
  }, ServerLimits{}, /*io_threads=*/4);
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int t = 0; t < 12; ++t) {
    clients.emplace_back([&, t] {
      TestClient c(port());
      for (int i = 0; i < 30; ++i) {
        const int n = (t * 31 + i) % 7 + 1;
        if (i % 3 == 0) {
          if (!c.Send(Get("/plain"))) return;
          auto r = c.ReadResponse();
          if (r && r->body == "plain") ++ok;
        } else {
          if (!c.Send(Get("/stream?n=" + std::to_string(n)))) return;
          auto r = c.ReadResponse();
          std::string want;
          for (int k = 0; k < n; ++k) want += std::to_string(k) + ",";
          if (r && r->body == want) ++ok;
        }
      }
      // Leave in the middle of one last stream.
      TestClient quitter(port());
      quitter.Send(Get("/stream?n=100000"));
      quitter.ReadHead(Clock::now() + Ms(2000));
      quitter.Reset();
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), 12 * 30);
  const auto until = Clock::now() + Ms(3000);
  while (cancels.load() < 12 && Clock::now() < until) std::this_thread::sleep_for(Ms(5));
  EXPECT_GE(cancels.load(), 1);  // most quitters are cancelled; a fast stream may finish first
}

TEST_F(ServerTest, OnRequestDoneReportsEveryRequest) {
  Start([](Router& r) { r.Add("GET", "/a", TextHandler("12345")); });
  TestClient c(port());
  ASSERT_TRUE(c.Send(Get("/a") + Get("/missing")));
  ASSERT_TRUE(c.ReadResponse());
  ASSERT_TRUE(c.ReadResponse());
  const auto done = WaitDone(2);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].path, "/a");
  EXPECT_EQ(done[0].status, 200);
  EXPECT_GT(done[0].bytes, 5u);
  EXPECT_EQ(done[1].status, 404);
}

}  // namespace
}  // namespace bastion::http::testing
