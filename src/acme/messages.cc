#include "acme/messages.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <nlohmann/json.hpp>

namespace bastion::acme {
namespace {

using json = nlohmann::json;

// Parses without exceptions; a discarded value means malformed. Oversized input is refused
// before parsing so a hostile CA cannot make us build a huge tree.
std::optional<json> ParseJson(std::string_view body) {
  if (body.size() > kMaxJsonBytes) return std::nullopt;
  json value = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

std::string GetString(const json& object, const char* key, size_t max = 4096) {
  if (!object.is_object()) return {};
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return {};
  const std::string& s = it->get_ref<const std::string&>();
  return s.size() <= max ? s : std::string();
}

bool GetBool(const json& object, const char* key) {
  if (!object.is_object()) return false;
  const auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

// A URL field: kept only if it could be fetched (https, or http to loopback is checked by the
// HTTP client later); control characters or spaces make it unusable.
std::string GetUrl(const json& object, const char* key) {
  std::string url = GetString(object, key, 2048);
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return {};
  }
  return url;
}

AcmeError ProblemFromJson(const json& problem, int http_status) {
  AcmeError error;
  error.http_status = http_status;
  error.type = Printable(GetString(problem, "type"), 200);
  error.detail = Printable(GetString(problem, "detail"));
  if (problem.is_object()) {
    const auto subs = problem.find("subproblems");
    if (subs != problem.end() && subs->is_array()) {
      std::string text;
      size_t count = 0;
      for (const json& sub : *subs) {
        if (++count > 8) break;  // enough to explain; the rest is noise
        std::string what = GetString(sub, "detail");
        if (what.empty()) what = GetString(sub, "type");
        std::string who;
        if (sub.is_object() && sub.contains("identifier")) who = GetString(sub["identifier"], "value");
        if (!text.empty()) text += "; ";
        text += who.empty() ? what : who + ": " + what;
      }
      if (!text.empty()) error.detail += (error.detail.empty() ? "" : " ") + Printable("(" + text + ")");
    }
  }
  return error;
}

int TwoDigits(std::string_view s, size_t pos) {
  if (pos + 2 > s.size() || !std::isdigit(static_cast<unsigned char>(s[pos])) ||
      !std::isdigit(static_cast<unsigned char>(s[pos + 1]))) {
    return -1;
  }
  return (s[pos] - '0') * 10 + (s[pos + 1] - '0');
}

std::optional<std::chrono::system_clock::time_point> MakeTime(int year, int month, int day, int hour, int minute,
                                                              int second) {
  using namespace std::chrono;
  if (year < 1970 || year > 9999 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  const year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                           std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  second = std::min(second, 59);  // a leap second is as good as the one before it
  return system_clock::time_point(sys_days(ymd)) + hours(hour) + minutes(minute) + seconds(second);
}

int MonthFromName(std::string_view name) {
  static constexpr const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                            "jul", "aug", "sep", "oct", "nov", "dec"};
  if (name.size() != 3) return 0;
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (int i = 0; i < 12; ++i) {
    if (lower == kMonths[i]) return i + 1;
  }
  return 0;
}

// The three HTTP-date forms share their pieces: a weekday name, a day, a month name, a year and
// hh:mm:ss, in different orders and separators. Picking them out by shape handles all three.
std::optional<std::chrono::system_clock::time_point> ParseHttpDate(std::string_view text) {
  int day = -1, month = 0, year = -1, hour = -1, minute = -1, second = -1;
  size_t pos = 0;
  int tokens = 0;
  while (pos < text.size()) {
    if (text[pos] == ' ' || text[pos] == ',' || text[pos] == '-') {
      ++pos;
      continue;
    }
    size_t end = pos;
    while (end < text.size() && text[end] != ' ' && text[end] != ',' && text[end] != '-') ++end;
    const std::string_view token = text.substr(pos, end - pos);
    pos = end;
    if (++tokens > 8) return std::nullopt;
    if (token.size() == 8 && token[2] == ':' && token[5] == ':') {
      hour = TwoDigits(token, 0);
      minute = TwoDigits(token, 3);
      second = TwoDigits(token, 6);
      if (hour < 0 || minute < 0 || second < 0) return std::nullopt;
    } else if (std::all_of(token.begin(), token.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      int value = 0;
      if (token.size() > 4) return std::nullopt;
      std::from_chars(token.data(), token.data() + token.size(), value);
      if (token.size() <= 2 && day < 0) {
        day = value;
      } else if (token.size() == 4 || (token.size() == 2 && day >= 0)) {
        year = token.size() == 2 ? (value >= 70 ? 1900 + value : 2000 + value) : value;
      } else {
        return std::nullopt;
      }
    } else if (const int m = MonthFromName(token); m != 0) {
      month = m;
    } else if (token == "GMT" || token.size() >= 3) {
      continue;  // the weekday name, or the zone (HTTP dates are always GMT)
    } else {
      return std::nullopt;
    }
  }
  if (day < 1 || month == 0 || year < 0 || hour < 0) return std::nullopt;
  return MakeTime(year, month, day, hour, minute, second);
}

}  // namespace

std::string Printable(std::string_view text, size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max));
  for (const char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : (c == '\n' || c == '\t' ? ' ' : '?');
  }
  return out;
}

bool IsValidNonce(std::string_view nonce) {
  if (nonce.empty() || nonce.size() > 512) return false;
  return std::all_of(nonce.begin(), nonce.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

Result<Directory> ParseDirectory(std::string_view body) {
  const auto value = ParseJson(body);
  if (!value || !value->is_object()) return Error("directory is not a JSON object");
  Directory dir;
  dir.new_nonce = GetUrl(*value, "newNonce");
  dir.new_account = GetUrl(*value, "newAccount");
  dir.new_order = GetUrl(*value, "newOrder");
  dir.revoke_cert = GetUrl(*value, "revokeCert");
  dir.key_change = GetUrl(*value, "keyChange");
  dir.renewal_info = GetUrl(*value, "renewalInfo");
  if (value->contains("meta")) {
    const json& meta = (*value)["meta"];
    dir.terms_of_service = GetUrl(meta, "termsOfService");
    dir.external_account_required = GetBool(meta, "externalAccountRequired");
  }
  if (dir.new_nonce.empty() || dir.new_account.empty() || dir.new_order.empty()) {
    return Error("directory lacks newNonce, newAccount or newOrder (is this an ACME directory URL?)");
  }
  return dir;
}

ObjectStatus ParseStatus(std::string_view text) {
  static constexpr std::pair<const char*, ObjectStatus> kNames[] = {
      {"pending", ObjectStatus::kPending},   {"ready", ObjectStatus::kReady},
      {"processing", ObjectStatus::kProcessing}, {"valid", ObjectStatus::kValid},
      {"invalid", ObjectStatus::kInvalid},   {"deactivated", ObjectStatus::kDeactivated},
      {"expired", ObjectStatus::kExpired},   {"revoked", ObjectStatus::kRevoked}};
  for (const auto& [name, status] : kNames) {
    if (text == name) return status;
  }
  return ObjectStatus::kUnknown;
}

const char* StatusName(ObjectStatus status) {
  switch (status) {
    case ObjectStatus::kPending: return "pending";
    case ObjectStatus::kReady: return "ready";
    case ObjectStatus::kProcessing: return "processing";
    case ObjectStatus::kValid: return "valid";
    case ObjectStatus::kInvalid: return "invalid";
    case ObjectStatus::kDeactivated: return "deactivated";
    case ObjectStatus::kExpired: return "expired";
    case ObjectStatus::kRevoked: return "revoked";
    case ObjectStatus::kUnknown: break;
  }
  return "unknown";
}

Result<Authorization> ParseAuthorization(std::string_view body) {
  const auto value = ParseJson(body);
  if (!value || !value->is_object()) return Error("authorization is not a JSON object");
  Authorization authz;
  authz.status = ParseStatus(GetString(*value, "status", 32));
  if (authz.status == ObjectStatus::kUnknown) return Error("authorization has no known status");
  if (value->contains("identifier")) {
    authz.identifier_type = GetString((*value)["identifier"], "type", 16);
    authz.identifier = GetString((*value)["identifier"], "value", 256);
  }
  authz.wildcard = GetBool(*value, "wildcard");
  const auto challenges = value->find("challenges");
  if (challenges != value->end() && challenges->is_array()) {
    for (const json& c : *challenges) {
      if (authz.challenges.size() >= 16) break;
      Challenge challenge;
      challenge.type = GetString(c, "type", 64);
      challenge.url = GetUrl(c, "url");
      challenge.token = GetString(c, "token", 256);
      challenge.status = ParseStatus(GetString(c, "status", 32));
      if (c.is_object() && c.contains("error") && c["error"].is_object()) {
        challenge.error = ProblemFromJson(c["error"], 0);
      }
      if (challenge.type.empty() || challenge.url.empty()) continue;  // unusable, skip it
      authz.challenges.push_back(std::move(challenge));
    }
  }
  return authz;
}

Result<Order> ParseOrder(std::string_view body) {
  const auto value = ParseJson(body);
  if (!value || !value->is_object()) return Error("order is not a JSON object");
  Order order;
  order.status = ParseStatus(GetString(*value, "status", 32));
  if (order.status == ObjectStatus::kUnknown) return Error("order has no known status");
  order.finalize = GetUrl(*value, "finalize");
  order.certificate = GetUrl(*value, "certificate");
  const auto authzs = value->find("authorizations");
  if (authzs != value->end() && authzs->is_array()) {
    for (const json& a : *authzs) {
      if (order.authorizations.size() >= 100) return Error("order has more than 100 authorizations");
      if (!a.is_string()) continue;
      json holder = {{"u", a}};
      const std::string url = GetUrl(holder, "u");
      if (!url.empty()) order.authorizations.push_back(url);
    }
  }
  if (value->contains("error") && (*value)["error"].is_object()) order.error = ProblemFromJson((*value)["error"], 0);
  return order;
}

AcmeError ParseProblem(int http_status, std::string_view body, std::optional<std::chrono::seconds> retry_after) {
  AcmeError error;
  const auto value = ParseJson(body);
  if (value && value->is_object() && value->contains("type")) {
    error = ProblemFromJson(*value, http_status);
  } else {
    error.http_status = http_status;
    error.detail = "HTTP " + std::to_string(http_status) + (body.empty() ? "" : ": " + Printable(body, 200));
  }
  error.retry_after = retry_after;
  return error;
}

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value, std::chrono::system_clock::time_point now) {
  constexpr std::chrono::seconds kMax = std::chrono::hours(24 * 30);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty() || value.size() > 64) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (value.size() > 9) return kMax;  // beyond 30 days anyway; avoids overflow
    int64_t seconds = 0;
    std::from_chars(value.data(), value.data() + value.size(), seconds);
    return std::min(std::chrono::seconds(seconds), kMax);
  }
  const auto when = ParseHttpDate(value);
  if (!when) return std::nullopt;
  if (*when <= now) return std::chrono::seconds(0);
  return std::min(std::chrono::duration_cast<std::chrono::seconds>(*when - now), kMax);
}

std::optional<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  if (s.size() < 20 || s.size() > 40) return std::nullopt;
  const int y1 = TwoDigits(s, 0), y2 = TwoDigits(s, 2);
  if (y1 < 0 || y2 < 0 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  const int month = TwoDigits(s, 5), day = TwoDigits(s, 8), hour = TwoDigits(s, 11), minute = TwoDigits(s, 14),
            second = TwoDigits(s, 17);
  if (month < 1 || day < 1 || hour < 0 || minute < 0 || second < 0) return std::nullopt;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const size_t digits_start = pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
    if (pos == digits_start) return std::nullopt;  // fractions are dropped: seconds are enough
  }
  if (pos >= s.size()) return std::nullopt;
  int offset_minutes = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    const int oh = TwoDigits(s, pos + 1), om = TwoDigits(s, pos + 4);
    if (oh < 0 || om < 0 || oh > 23 || om > 59 || pos + 3 >= s.size() || s[pos + 3] != ':') return std::nullopt;
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  auto t = MakeTime(y1 * 100 + y2, month, day, hour, minute, second);
  if (!t) return std::nullopt;
  return *t - std::chrono::minutes(offset_minutes);  // local time minus its offset is UTC
}

Result<RenewalInfo> ParseRenewalInfo(std::string_view body) {
  const auto value = ParseJson(body);
  if (!value || !value->is_object()) return Error("renewalInfo is not a JSON object");
  const auto window = value->find("suggestedWindow");
  if (window == value->end() || !window->is_object()) return Error("renewalInfo has no suggestedWindow");
  const auto start = ParseRfc3339(GetString(*window, "start", 64));
  const auto end = ParseRfc3339(GetString(*window, "end", 64));
  if (!start || !end) return Error("renewalInfo suggestedWindow start/end are not RFC 3339 times");
  if (*end < *start) return Error("renewalInfo suggestedWindow ends before it starts");
  RenewalInfo info;
  info.window_start = *start;
  info.window_end = *end;
  info.explanation_url = GetUrl(*value, "explanationURL");
  return info;
}

}  // namespace bastion::acme
