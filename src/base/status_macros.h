// Status propagation helpers. Debian's Abseil (20220623) lacks ABSL_RETURN_IF_ERROR;
// these two macros fill the gap. Include only from .cc files and tests.
#ifndef TYPECACHE_SRC_BASE_STATUS_MACROS_H_
#define TYPECACHE_SRC_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TC_CONCAT_INNER(a, b) a##b
#define TC_CONCAT(a, b) TC_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                \
  do {                                       \
    ::absl::Status tc_status_ = (expr);      \
    if (!tc_status_.ok()) return tc_status_; \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  TC_ASSIGN_OR_RETURN_IMPL(TC_CONCAT(tc_statusor_, __LINE__), lhs, expr)

#define TC_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

#endif  // TYPECACHE_SRC_BASE_STATUS_MACROS_H_
