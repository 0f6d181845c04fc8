// privcast_grpc_echo_server: the gRPC latency benchmark's server in C++ (bench/proxy/run.sh
// ONLY=h2, rows "c++"), speaking the service of tests/e2e/apps/grpc_echo.py: test.Echo with raw
// bytes (no protobuf: gRPC's generic API, so it answers the Python client too, and the Python
// server answers privcast_grpc_latency). Only /test.Echo/Unary (echoes the request); other
// methods get UNIMPLEMENTED.
//
//   privcast_grpc_echo_server PORT      (insecure, h2c, on 0.0.0.0:PORT; runs until killed)
//
// One completion queue served by the main thread (the asynchronous API): no thread hop between
// the transport and the handler, the lowest latency gRPC C++ offers. Prints "ready" once
// listening.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <memory>
#include <string>

namespace {

constexpr std::string_view kUnary = "/test.Echo/Unary";

// One call, from its acceptance to its status. Its address is the completion queue's tag.
class Call {
 public:
  Call(grpc::AsyncGenericService* svc, grpc::ServerCompletionQueue* cq) : svc_(svc), cq_(cq), stream_(&ctx_) {
    svc_->RequestCall(&ctx_, &stream_, cq_, cq_, this);
  }

  // The operation this call waited for completed (ok: as gRPC reports it).
  void Proceed(bool ok) {
    switch (step_) {
      case Step::kAccept:
        if (!ok) return delete this;  // shutting down
        new Call(svc_, cq_);          // the next call is accepted meanwhile
        if (ctx_.method() != kUnary) {
          step_ = Step::kFinish;
          return stream_.Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "only Unary"), this);
        }
        step_ = Step::kRead;
        return stream_.Read(&buf_, this);
      case Step::kRead:
        step_ = Step::kFinish;
        if (!ok) return stream_.Finish(grpc::Status(grpc::StatusCode::INTERNAL, "no request"), this);
        return stream_.WriteAndFinish(buf_, grpc::WriteOptions(), grpc::Status::OK, this);
      case Step::kFinish:
        return delete this;
    }
  }

 private:
  enum class Step { kAccept, kRead, kFinish };
  grpc::AsyncGenericService* svc_;
  grpc::ServerCompletionQueue* cq_;
  grpc::GenericServerContext ctx_;
  grpc::GenericServerAsyncReaderWriter stream_;
  grpc::ByteBuffer buf_;
  Step step_ = Step::kAccept;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  grpc::AsyncGenericService svc;
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort(std::string("0.0.0.0:") + argv[1], grpc::InsecureServerCredentials(), &port);
  b.RegisterAsyncGenericService(&svc);
  std::unique_ptr<grpc::ServerCompletionQueue> cq = b.AddCompletionQueue();
  std::unique_ptr<grpc::Server> server = b.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "cannot listen on port %s\n", argv[1]);
    return 1;
  }
  new Call(&svc, cq.get());  // owns itself (deleted at its end)
  std::printf("ready\n");
  std::fflush(stdout);
  void* tag = nullptr;
  bool ok = false;
  while (cq->Next(&tag, &ok)) static_cast<Call*>(tag)->Proceed(ok);
  return 0;
}
