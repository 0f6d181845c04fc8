// Status and Result<T>: privcast's error values.
//
// Error policy (see docs/errors.md): untrusted input (network bytes, fly.toml, API JSON,
// DNS packets) is answered with a Status and never crashes; states that cannot happen if
// the code is correct abort loudly through PC_CHECK. No exceptions cross module boundaries,
// and none are thrown on the data path (proxy, DNS). Third-party libraries that throw
// (toml++, nlohmann::json) are wrapped at the call site.
//
// Both types are [[nodiscard]]: an ignored error is a compile error under PRIVCAST_WERROR.
// Where dropping one is right, cast to (void) and say why in a comment.
//
// Thread-safety: plain values, copy freely.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace privcast {

enum class Code {
  kOk = 0,
  kInvalidArgument,  // bad input from a user or peer: 400 / exit 1
  kNotFound,         // 404
  kAlreadyExists,    // 409
  kConflict,         // 409: compare-and-set lost, wrong state
  kFailedPrecondition,
  kUnavailable,  // transient; retry may succeed
  kInternal,     // a bug or an OS failure we cannot explain
  kIo,           // OS call failed (errno in message)
};

const char* CodeName(Code c);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return Status(Code::kInvalidArgument, std::move(m)); }
inline Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
inline Status AlreadyExists(std::string m) { return Status(Code::kAlreadyExists, std::move(m)); }
inline Status Conflict(std::string m) { return Status(Code::kConflict, std::move(m)); }
inline Status FailedPrecondition(std::string m) { return Status(Code::kFailedPrecondition, std::move(m)); }
inline Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
inline Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }
// An OS call failed: message is "<what>: <strerror(err)>".
Status ErrnoStatus(const std::string& what, int err);

// Result<T> holds either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    if (std::get<Status>(v_).ok()) std::abort();   // an ok Status carries no value
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

[[noreturn]] void CheckFailed(const char* file, int line, const char* expr, const std::string& msg);

}  // namespace privcast

// PC_CHECK: an invariant of our own code. Failing means a bug: crash loudly with context.
#define PC_CHECK(cond)                                                   \
  do {                                                                   \
    if (!(cond)) ::privcast::CheckFailed(__FILE__, __LINE__, #cond, ""); \
  } while (0)
#define PC_CHECK_MSG(cond, msg)                                             \
  do {                                                                      \
    if (!(cond)) ::privcast::CheckFailed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)

// PC_DCHECK: an invariant too costly to test in a release build (a walk over a container on a
// hot path, say). Checked like PC_CHECK in debug builds (no NDEBUG: Debug, the ASan build);
// under NDEBUG the condition is never evaluated, yet still compiled, so it cannot rot.
#ifdef NDEBUG
#define PC_DCHECK(cond)      \
  do {                       \
    if (false) (void)(cond); \
  } while (0)
#define PC_DCHECK_MSG(cond, msg)          \
  do {                                    \
    if (false) (void)(cond), (void)(msg); \
  } while (0)
#else
#define PC_DCHECK(cond) PC_CHECK(cond)
#define PC_DCHECK_MSG(cond, msg) PC_CHECK_MSG(cond, msg)
#endif

// PC_RETURN_IF_ERROR(expr): propagate a non-ok Status.
#define PC_RETURN_IF_ERROR(expr)     \
  do {                               \
    ::privcast::Status _st = (expr); \
    if (!_st.ok()) return _st;       \
  } while (0)

#define PC_CONCAT_INNER(a, b) a##b
#define PC_CONCAT(a, b) PC_CONCAT_INNER(a, b)
// PC_ASSIGN_OR_RETURN(lhs, expr): lhs = value of a Result, or return its Status.
#define PC_ASSIGN_OR_RETURN(lhs, expr) PC_ASSIGN_OR_RETURN_IMPL(PC_CONCAT(_res_, __LINE__), lhs, expr)
// NOLINTBEGIN(bugprone-macro-parentheses): tmp and lhs are declarations (`auto tmp`,
// `int64_t v`): parentheses would not compile.
#define PC_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
