// Decodes arbitrary bytes as every store record. Decoding must never throw or crash, and a
// record that decodes must survive encode → decode unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "store/codec.h"

namespace {

template <typename T>
void RoundTrip(std::string_view in) {
  T v;
  if (!privcast::store::Decode(in, &v).ok()) return;
  std::string once = privcast::store::Encode(v);
  T again;
  if (!privcast::store::Decode(once, &again).ok()) std::abort();
  if (privcast::store::Encode(again) != once) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  using namespace privcast::store;
  RoundTrip<Host>(in);
  RoundTrip<Org>(in);
  RoundTrip<Network>(in);
  RoundTrip<App>(in);
  RoundTrip<Machine>(in);
  RoundTrip<IpAssignment>(in);
  RoundTrip<Release>(in);
  RoundTrip<ReleasedAddress>(in);
  return 0;
}
