// libFuzzer target: arbitrary bytes as a mypy fixed-format meta row (with its own header, and
// with the other known header forced so that both layouts see every body) and as `.err.ff` /
// `.meta_ex.ff` side rows. Checks invariants as well as crashes:
// - a meta fails only with DataLoss, or Unimplemented for an unknown header; side rows only
//   with DataLoss; CheckSideRow agrees with the decoders;
// - whatever decodes re-encodes to bytes that decode to the same value, and that canonical
//   encoding is a fixed point (Encode(Decode(e)) == e);
// - the JSON view of a decoded value serializes (every str was checked to be UTF-8).
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "src/checker/mypy/fixed_format.h"

namespace {

using typecache::FixedMeta;

void CheckMeta(absl::string_view row) {
  absl::StatusOr<FixedMeta> meta = typecache::DecodeFixedMeta(row);
  if (!meta.ok()) {
    absl::StatusCode code = meta.status().code();
    if (code != absl::StatusCode::kDataLoss && code != absl::StatusCode::kUnimplemented) abort();
    return;
  }
  std::string encoded = typecache::EncodeFixedMeta(*meta);
  absl::StatusOr<FixedMeta> again = typecache::DecodeFixedMeta(encoded);
  if (!again.ok() || *again != *meta) abort();
  if (typecache::EncodeFixedMeta(*again) != encoded) abort();
  (void)typecache::FixedMetaToJson(*meta).dump();
}

void CheckSideRows(absl::string_view row) {
  absl::StatusOr<std::vector<typecache::FfError>> errors = typecache::DecodeErrorsRow(row);
  absl::Status err_check = typecache::CheckSideRow("m.err.ff", row);
  if (errors.ok()) {
    if (!err_check.ok()) abort();
    std::string encoded = typecache::EncodeErrorsRow(*errors);
    absl::StatusOr<std::vector<typecache::FfError>> again = typecache::DecodeErrorsRow(encoded);
    if (!again.ok() || !(*again == *errors) || typecache::EncodeErrorsRow(*again) != encoded) {
      abort();
    }
    (void)typecache::FfErrorsToJson(*errors).dump();
  } else if (errors.status().code() != absl::StatusCode::kDataLoss ||
             err_check.code() != absl::StatusCode::kDataLoss) {
    abort();
  }

  absl::StatusOr<typecache::FixedMetaEx> ex = typecache::DecodeMetaExRow(row);
  absl::Status ex_check = typecache::CheckSideRow("m.meta_ex.ff", row);
  if (ex.ok()) {
    if (!ex_check.ok()) abort();
    std::string encoded = typecache::EncodeMetaExRow(*ex);
    absl::StatusOr<typecache::FixedMetaEx> again = typecache::DecodeMetaExRow(encoded);
    if (!again.ok() || !(*again == *ex) || typecache::EncodeMetaExRow(*again) != encoded) abort();
    (void)typecache::FixedMetaExToJson(*ex).dump();
  } else if (ex.status().code() != absl::StatusCode::kDataLoss ||
             ex_check.code() != absl::StatusCode::kDataLoss) {
    abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  CheckMeta(input);
  if (size >= 2 && data[0] == typecache::kFfBufferFormat) {
    std::string other(input);
    other[1] = static_cast<char>(data[1] == typecache::kFfCacheVersionMypy2
                                     ? typecache::kFfCacheVersionMypy120
                                     : typecache::kFfCacheVersionMypy2);
    CheckMeta(other);
  }
  CheckSideRows(input);
  return 0;
}
