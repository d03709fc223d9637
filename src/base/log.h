// The error log: what the server did and why, with levels, in one process-wide sink (stderr by
// default, or a file set by `--error-log`), reopened on SIGUSR1 like the access log so logrotate
// can move it away. Every refused request that hit a limit, every certificate event, every
// failure a library hits on a background thread ends up here.
//
// A line:  2026-11-26T10:34:31.123Z [warn] http: 431 GET /api/tags client=10.0.0.7 rid=...: too
//          many header fields (limit 100)
// Levels follow nginx's error_log (debug < info < notice < warn < error < crit); lines below the
// configured level cost one atomic load. Message bytes that a client controls (paths, header
// values) are escaped: a control byte is written as \xNN, so no request can forge a log line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace bastion::log {

enum class Level { kDebug = 0, kInfo, kNotice, kWarn, kError, kCrit };

const char* LevelName(Level level);
// "debug", "info", "notice", "warn" (or "warning"), "error", "crit".
std::optional<Level> ParseLevel(std::string_view name);

// Where lines go. Until Configure is called: stderr, level info.
struct Options {
  std::string path = "-";  // "-" = stderr; otherwise appended to (created 0640)
  Level min_level = Level::kInfo;
};
Status Configure(const Options& options);

bool Enabled(Level level);

// Thread-safe; one write(2) per line, so lines from threads never interleave.
void Write(Level level, std::string_view component, std::string_view message);

inline void Debug(std::string_view component, std::string_view message) { Write(Level::kDebug, component, message); }
inline void Info(std::string_view component, std::string_view message) { Write(Level::kInfo, component, message); }
inline void Notice(std::string_view component, std::string_view message) { Write(Level::kNotice, component, message); }
inline void Warn(std::string_view component, std::string_view message) { Write(Level::kWarn, component, message); }
inline void Err(std::string_view component, std::string_view message) { Write(Level::kError, component, message); }
inline void Crit(std::string_view component, std::string_view message) { Write(Level::kCrit, component, message); }

// Lines about single requests (refusals, limits) under a flood: at most this many per second are
// written; the rest are counted, and the next line after the second ends says how many were
// left out. A flood of 429s must not fill the disk (journald rate-limits the same way); the
// counts in /metrics stay exact.
inline constexpr int kMaxRequestLinesPerSecond = 100;
// True when a request line may be written now (and writes the summary of suppressed lines
// when a new second has begun). Thread-safe.
bool AdmitRequestLine();

// Log rotation: set from a SIGUSR1 handler (async-signal-safe: one atomic increment). The error
// log and every AccessLog reopen their files before their next line.
void RequestReopen();
uint64_t ReopenGeneration();

// The line Write would produce (with its trailing newline), for tests.
std::string FormatLine(int64_t unix_ms, Level level, std::string_view component, std::string_view message);

// Appends `text` with control bytes and DEL as \xNN (and '\' as "\\"), for client-controlled text.
void AppendEscaped(std::string& out, std::string_view text);

}  // namespace bastion::log
