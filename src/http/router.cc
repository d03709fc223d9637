// Route table, dispatch with HEAD/OPTIONS/404/405 handling, and error bodies (see router.h).
#include "http/router.h"

#include <algorithm>
#include <exception>
#include <set>

#include "base/check.h"
#include "http/wire.h"

namespace bastion::http {

void Router::Add(std::string method, std::string pattern, Handler handler) {
  BASTION_CHECK_MSG(!frozen_, "Router::Add after the server started");
  BASTION_CHECK_MSG(wire::IsToken(method), "route method must be a token");
  BASTION_CHECK_MSG(!pattern.empty() && pattern[0] == '/', "route pattern must start with '/'");
  BASTION_CHECK(handler != nullptr);

  std::string prefix = pattern;
  std::string param_name;
  const size_t brace = pattern.find('{');
  if (brace != std::string::npos) {
    // Only the trailing "/{name}" form is supported.
    BASTION_CHECK_MSG(brace > 0 && pattern[brace - 1] == '/' && pattern.back() == '}' &&
                          pattern.find('}') == pattern.size() - 1 && brace + 2 < pattern.size(),
                      "route parameter must be the last segment: /prefix/{name}");
    prefix = pattern.substr(0, brace);
    param_name = pattern.substr(brace + 1, pattern.size() - brace - 2);
  }

  Route* route = nullptr;
  for (Route& r : routes_) {
    if (r.pattern == pattern) route = &r;
  }
  if (route == nullptr) {
    // Two spellings of the same parameter route ("{id}" vs "{name}") would be ambiguous.
    for (const Route& r : routes_) {
      BASTION_CHECK_MSG(r.prefix != prefix || r.param_name.empty() != param_name.empty(),
                        "two parameter routes with the same prefix");
    }
    routes_.push_back(Route{pattern, prefix, param_name, {}});
    route = &routes_.back();
    // Rebuild the indexes (routes_ may have moved; Add only runs at startup).
    exact_.clear();
    by_prefix_.clear();
    for (size_t i = 0; i < routes_.size(); ++i) {
      if (routes_[i].param_name.empty()) {
        exact_[routes_[i].prefix] = i;
      } else {
        by_prefix_.push_back(i);
      }
    }
    std::stable_sort(by_prefix_.begin(), by_prefix_.end(),
                     [this](size_t a, size_t b) { return routes_[a].prefix.size() > routes_[b].prefix.size(); });
  }
  BASTION_CHECK_MSG(route->handlers.count(method) == 0, "route registered twice");
  route->handlers.emplace(std::move(method), std::move(handler));
}

void Router::SetErrorResponder(ErrorResponder responder) {
  BASTION_CHECK_MSG(!frozen_, "Router::SetErrorResponder after the server started");
  error_responder_ = std::move(responder);
}

void Router::SetOptionsHandler(Handler handler) {
  BASTION_CHECK_MSG(!frozen_, "Router::SetOptionsHandler after the server started");
  options_handler_ = std::move(handler);
}

void Router::SetFallback(Handler handler) {
  BASTION_CHECK_MSG(!frozen_, "Router::SetFallback after the server started");
  fallback_ = std::move(handler);
}

const Router::Route* Router::Match(std::string_view path, std::string* param_value) const {
  if (auto it = exact_.find(std::string(path)); it != exact_.end()) return &routes_[it->second];
  for (const size_t index : by_prefix_) {
    const Route& r = routes_[index];
    // The parameter must be non-empty: "/v1/models/" is not a model.
    if (path.size() > r.prefix.size() && path.compare(0, r.prefix.size(), r.prefix) == 0) {
      *param_value = std::string(path.substr(r.prefix.size()));
      return &r;
    }
  }
  return nullptr;
}

std::string Router::AllowList(const Route& route) {
  std::set<std::string> methods;
  for (const auto& [method, handler] : route.handlers) methods.insert(method);
  if (methods.count("GET")) methods.insert("HEAD");
  methods.insert("OPTIONS");  // always answered (by a route, the options handler, or 204)
  std::string out;
  for (const std::string& m : methods) {
    if (!out.empty()) out += ", ";
    out += m;
  }
  return out;
}

std::string Router::AllowedMethods(std::string_view path) const {
  std::string param;
  const Route* route = Match(path, &param);
  return route ? AllowList(*route) : std::string();
}

void Router::SetGuard(Guard guard) {
  BASTION_CHECK_MSG(!frozen_, "Router::SetGuard after the server started");
  guard_ = std::move(guard);
}

void Router::Dispatch(Request& request, std::shared_ptr<ResponseWriter> writer) const {
  request.path_params.clear();
  if (guard_ && !guard_(request, writer)) return;
  if (request.method == "OPTIONS" && request.path == "*") {
    if (options_handler_) return options_handler_(request, std::move(writer));
    std::set<std::string> all{"OPTIONS"};
    for (const Route& r : routes_) {
      for (const auto& [method, handler] : r.handlers) all.insert(method);
    }
    std::string allow;
    for (const std::string& m : all) allow += (allow.empty() ? "" : ", ") + m;
    return writer->Send(204, "", "", {{"Allow", allow}});
  }

  std::string param;
  const Route* route = Match(request.path, &param);
  if (route == nullptr) {
    if (fallback_) return fallback_(request, std::move(writer));
    return SendError(request, 404, "no such endpoint: " + request.method + " " + request.path, *writer);
  }
  if (!route->param_name.empty()) request.path_params.emplace_back(route->param_name, std::move(param));

  auto it = route->handlers.find(request.method);
  if (it == route->handlers.end() && request.method == "HEAD") it = route->handlers.find("GET");
  if (it != route->handlers.end()) return it->second(request, std::move(writer));

  if (request.method == "OPTIONS") {
    if (options_handler_) return options_handler_(request, std::move(writer));
    return writer->Send(204, "", "", {{"Allow", AllowList(*route)}});
  }
  SendError(request, 405, "method " + request.method + " not allowed for " + request.path, *writer,
            {{"Allow", AllowList(*route)}});
}

ErrorBody Router::DefaultErrorBody(const Request& /*request*/, int /*status*/, std::string_view message) {
  return ErrorBody{"application/json", "{\"error\":\"" + wire::JsonEscape(message) + "\"}"};
}

ErrorBody Router::MakeErrorBody(const Request& request, int status, std::string_view message) const {
  if (error_responder_) {
    // A throwing responder must not take the connection (or the I/O thread) down with it.
    try {
      return error_responder_(request, status, message);
    } catch (const std::exception&) {
    }
  }
  return DefaultErrorBody(request, status, message);
}

void Router::SendError(const Request& request, int status, std::string_view message, ResponseWriter& writer,
                       Headers extra) const {
  LogErrorResponse(request, status, message);
  ErrorBody body = MakeErrorBody(request, status, message);
  writer.Send(status, body.content_type, std::move(body.body), std::move(extra));
}

}  // namespace bastion::http
