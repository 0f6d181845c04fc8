// privcast_grpc_latency: sequential gRPC unary calls in C++ (bench/proxy/run.sh ONLY=h2, rows
// "c++"), the C++ twin of bench/proxy/grpc_latency.py: one channel, 200 warm-up calls, then
// CALLS calls of 100 bytes one at a time to /test.Echo/Unary (raw bytes, gRPC's generic API:
// privcast_grpc_echo_server or tests/e2e/apps/grpc_echo.py), each with a 10 s deadline.
// Prints "p50_us p99_us calls"; exits 1 on a failed call or a wrong answer.
//
//   privcast_grpc_latency TARGET CALLS      (TARGET: host:port, e.g. [fdaa:0:1:0:1::5]:90)
//
// The calls go through a completion queue this thread waits on, so the measured time is the
// call's own (no thread hop of a callback executor).
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

// One unary call; false (with a message on stderr) unless it succeeded and echoed `want`.
bool Call(grpc::GenericStub& stub, grpc::CompletionQueue& cq, const grpc::ByteBuffer& req, size_t want) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> call = stub.PrepareUnaryCall(&ctx, "/test.Echo/Unary", req,
                                                                                       &cq);
  grpc::ByteBuffer resp;
  grpc::Status status;
  call->StartCall();
  call->Finish(&resp, &status, &ctx);
  void* tag = nullptr;
  bool ok = false;
  if (!cq.Next(&tag, &ok) || tag != &ctx || !ok) {
    std::fprintf(stderr, "completion queue failed\n");
    return false;
  }
  if (!status.ok()) {
    std::fprintf(stderr, "call failed: %d %s\n", static_cast<int>(status.error_code()), status.error_message().c_str());
    return false;
  }
  if (resp.Length() != want) {
    std::fprintf(stderr, "answer of %zu bytes, want %zu\n", resp.Length(), want);
    return false;
  }
  return true;
}

grpc::ByteBuffer Bytes(const std::string& s) {
  grpc::Slice slice(s);
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s TARGET CALLS\n", argv[0]);
    return 2;
  }
  int calls = std::atoi(argv[2]);
  if (calls <= 0) return 2;
  setenv("GRPC_DNS_RESOLVER", "native", 0);  // as the Python client: an address needs no c-ares
  grpc::GenericStub stub(grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials()));
  grpc::CompletionQueue cq;
  grpc::ByteBuffer warm = Bytes("warm");
  for (int i = 0; i < 200; ++i)
    if (!Call(stub, cq, warm, 4)) std::_Exit(1);  // no orderly gRPC shutdown needed to fail
  grpc::ByteBuffer req = Bytes(std::string(100, 'x'));
  std::vector<int64_t> lat;
  lat.reserve(static_cast<size_t>(calls));
  for (int i = 0; i < calls; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    if (!Call(stub, cq, req, 100)) std::_Exit(1);
    lat.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(lat.begin(), lat.end());
  size_t n = lat.size();
  std::printf("%.0f %.0f %d\n", static_cast<double>(lat[n / 2]) / 1000, static_cast<double>(lat[n * 99 / 100]) / 1000,
              calls);
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
  return 0;
}
