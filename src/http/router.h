// Router: maps (method, path) to a handler, and owns the shape of every error body the HTTP
// layer produces (404, 405, and the server's own 400/408/413/414/431/500/503) through one
// pluggable ErrorResponder, so the API layer can answer Ollama paths with {"error":"..."} and
// OpenAI paths with {"error":{"message",...}} without the server knowing either.
//
// Routes are exact paths ("/api/tags") or a prefix with one trailing parameter
// ("/v1/models/{id}", which matches "/v1/models/a/b" with id "a/b" — Ollama model names can
// contain slashes). Matching uses the percent-decoded path. An exact route wins over a parameter
// route; among parameter routes the longest prefix wins.
//
// Thread safety: build the router completely before handing it to Server::Create (which freezes
// it: a later Add is a bug); after that it is read-only and used from every I/O thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/http_types.h"

namespace bastion::http {

struct ErrorBody {
  std::string content_type;
  std::string body;
};

// Builds the body of an error response. `request` is as complete as the failure allowed: for a
// request that could not be parsed, method and path may be empty (and request_id is set).
// Called on an I/O thread; must not block.
using ErrorResponder = std::function<ErrorBody(const Request& request, int status, std::string_view message)>;

class Router {
 public:
  Router() = default;
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Registers a handler. `method` is an upper-case token ("GET"); `pattern` starts with '/' and is
  // either exact or ends in "/{name}". Registering the same (method, pattern) twice is a bug.
  // A GET route also answers HEAD (the server drops the body) unless HEAD is registered itself.
  void Add(std::string method, std::string pattern, Handler handler);

  // Replaces the default error body ({"error":"<message>"} as application/json).
  void SetErrorResponder(ErrorResponder responder);

  // Handles OPTIONS on any known path (and "*") that has no OPTIONS route of its own — the place
  // for CORS preflight later. Without one, OPTIONS gets 204 with an Allow header.
  void SetOptionsHandler(Handler handler);

  // Handles every request that matches no route (instead of the 404): the plain-HTTP listener's
  // redirect to HTTPS.
  void SetFallback(Handler handler);

  // Runs before any route (and before 404/405/OPTIONS handling): authentication, rate limits,
  // CORS. It either answers the request itself (through `writer`) and returns false, or returns
  // true to let it through — possibly after replacing `writer` with a wrapper (to add headers or
  // to hold a resource until the response is done) and annotating the request.
  using Guard = std::function<bool(Request& request, std::shared_ptr<ResponseWriter>& writer)>;
  void SetGuard(Guard guard);
  // Runs the matching handler, or answers 404/405 through the error responder. Fills
  // request.path_params.
  void Dispatch(Request& request, std::shared_ptr<ResponseWriter> writer) const;

  // Sends an error response shaped by the error responder; `extra` adds headers (Allow,
  // Retry-After). For handlers too: one place decides what errors look like.
  void SendError(const Request& request, int status, std::string_view message, ResponseWriter& writer,
                 Headers extra = {}) const;
  ErrorBody MakeErrorBody(const Request& request, int status, std::string_view message) const;

  // "GET, HEAD, OPTIONS, POST" for a path some route matches; "" for an unknown path.
  std::string AllowedMethods(std::string_view path) const;

  // The built-in error body: {"error":"<message>"}.
  static ErrorBody DefaultErrorBody(const Request& request, int status, std::string_view message);

  // Called by Server::Create: from now on the router is shared by I/O threads and Add is a bug.
  void Freeze() { frozen_ = true; }

 private:
  struct Route {
    std::string pattern;
    std::string prefix;      // exact path, or the part before "{name}"
    std::string param_name;  // empty for exact routes
    std::map<std::string, Handler> handlers;  // by method
  };

  // The route whose pattern matches `path`, and the parameter value for prefix routes.
  const Route* Match(std::string_view path, std::string* param_value) const;
  static std::string AllowList(const Route& route);

  std::vector<Route> routes_;                        // exact and prefix routes
  std::unordered_map<std::string, size_t> exact_;    // exact path -> index in routes_
  std::vector<size_t> by_prefix_;                    // prefix routes, longest prefix first
  ErrorResponder error_responder_;
  Handler options_handler_;
  Handler fallback_;
  Guard guard_;
  bool frozen_ = false;
};

}  // namespace bastion::http
