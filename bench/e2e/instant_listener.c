// A machine app that listens at once (the wake benchmark's app): binds [::]:PORT (dual-stack),
// prints "listen_us=N" (CLOCK_MONOTONIC µs between main() and listen()) to stdout, then answers
// every connection with a tiny HTTP/1.1 200 and closes it. Single-threaded on purpose.
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(void) {
  long long t0 = now_us();
  signal(SIGPIPE, SIG_IGN);
  int port = getenv("PORT") ? atoi(getenv("PORT")) : 8080;
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  int zero = 0, one = 1;
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_port = htons((unsigned short)port);
  if (bind(fd, (struct sockaddr*)&a, sizeof a) != 0 || listen(fd, 512) != 0) {
    perror("listen");
    return 1;
  }
  long long t1 = now_us();
  printf("listen_us=%lld\n", t1 - t0);  // to the machine's log file
  fflush(stdout);
  static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
  char buf[4096];
  for (;;) {
    int c = accept(fd, NULL, NULL);
    if (c < 0) continue;
    ssize_t n = read(c, buf, sizeof buf);
    (void)n;
    ssize_t w = write(c, resp, sizeof resp - 1);
    (void)w;
    close(c);
  }
}
