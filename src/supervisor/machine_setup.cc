#include "supervisor/machine_setup.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <iterator>
#include <utility>

#include "common/file.h"
#include "common/strings.h"
#include "supervisor/image_root.h"
#include "supervisor/kernel_wait.h"
#include "supervisor/record.h"
#include "supervisor/volume.h"

namespace privcast::supervisor {
namespace {

constexpr const char* kStateFiles[] = {"resolv.conf", "hosts", "runtime", "runtime.tmp"};

// privcast-init's report on the pipe (launch.h): "ok" once the program exec'd, "E<errno>"
// when it could not. Waits at most `wait`, in real time (kernel_wait.h).
Status ReadInitReport(int fd, Duration wait, const std::string& program) {
  std::string got;
  KernelDeadline deadline(wait);
  for (;;) {
    std::optional<int> left = deadline.NextPollMs();
    if (!left) return Unavailable("machine setup: program did not start within the exec wait");
    struct pollfd p = {fd, POLLIN, 0};
    int n = ::poll(&p, 1, *left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[32];
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
  }
  if (got == "ok") return Status::Ok();
  if (got.size() > 1 && got[0] == 'E') {
    return ErrnoStatus("machine setup: execve " + program,
                       ParseDecimal<int>(std::string_view(got).substr(1)).value_or(EIO));
  }
  return Internal("machine setup: privcast-init exited before starting " + program);
}

// A private duplicate >= 3, so the child's dup2 onto 0..2 cannot clobber a source.
UniqueFd DupAbove2(int fd) { return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3)); }

// One setup in progress: the steps (one method each, in SetupStep order) and what they hand
// each other. Its descriptors stay open until the setup ends, rollback included; the child
// has its own copies by then.
class MachineSetup {
 public:
  MachineSetup(const SetupEnv& env, const LaunchSpec& spec, const MachineCgroup& cg, std::string dir,
               MachineUserns* userns)
      : env_(env), s_(spec), cg_(cg), dir_(std::move(dir)), userns_(userns) {}

  Result<Spawned> Run();

 private:
  Status ResolveExec();
  Status MakeStateDir();
  Status MakeCgroup();
  Status LimitCgroup() { return cg_.ApplyLimits(s_.limits); }
  Status WriteFiles();
  Status OpenLog();
  Status OpenNetns();
  Status SpawnMain();
  Status SaveRuntimeRecord();
  // Parts of SpawnMain.
  Status DupStdio();
  Status OpenCgroupAttach();
  void PlanSpawn();
  Status PlanSandbox();
  Status EnsureUserns();
  RootfsInputs RootfsInputsFor() const;
  Status PrepareMounts(RootfsInputs& ri);
  Status OpenReportPipe();
  SpawnSandbox SandboxFor() const;
  void ChownStdioToMachine(const IdRange& ids) const;
  std::vector<std::string> InitArgv() const;

  const SetupEnv& env_;
  const LaunchSpec& s_;
  const MachineCgroup& cg_;
  const std::string dir_;
  MachineUserns* const userns_;
  UndoList undo_;

  std::string exec_path_;
  std::vector<std::string> argv_;
  UniqueFd log_fd_, null_fd_, netns_fd_;
  UniqueFd in_, out_, err_;      // the child's stdio (DupAbove2)
  std::vector<UniqueFd> procs_;  // the cgroups' attach files, written by the child
  SpawnPlan plan_;
  RootfsPlan rootfs_;                    // plan_.sandbox points here
  UniqueFd report_rd_, report_wr_;       // privcast-init's report pipe
  UniqueFd image_mount_;                 // the image's overlay until the child has moved it onto its root
  std::vector<UniqueFd> volume_mounts_;  // the volumes' idmapped mounts, likewise
  Spawned main_;
};

Result<Spawned> MachineSetup::Run() {
  using Step = Status (MachineSetup::*)();
  static constexpr std::pair<SetupStep, Step> kSteps[] = {
      {SetupStep::kStateDir, &MachineSetup::MakeStateDir},    {SetupStep::kCgroupCreate, &MachineSetup::MakeCgroup},
      {SetupStep::kCgroupLimits, &MachineSetup::LimitCgroup}, {SetupStep::kFiles, &MachineSetup::WriteFiles},
      {SetupStep::kLogFile, &MachineSetup::OpenLog},          {SetupStep::kNetns, &MachineSetup::OpenNetns},
      {SetupStep::kSpawn, &MachineSetup::SpawnMain},          {SetupStep::kRecord, &MachineSetup::SaveRuntimeRecord},
  };
  static_assert(std::size(kSteps) == kSetupStepCount);
  PC_RETURN_IF_ERROR(ResolveExec());  // nothing to undo yet
  for (const auto& [step, fn] : kSteps) {
    Status st = env_.opt->fault ? env_.opt->fault(step) : Status::Ok();
    if (st.ok()) st = (this->*fn)();
    if (!st.ok()) return undo_.Rollback(std::move(st));
  }
  return std::move(main_);
}

Status MachineSetup::ResolveExec() {
  if (!s_.shell_command.empty()) {
    exec_path_ = "/bin/sh";
    argv_ = {"/bin/sh", "-c", s_.shell_command};
  } else if (s_.sandbox) {
    // Looked up inside the machine's root by privcast-init (the machine's PATH).
    exec_path_ = s_.argv[0];
    argv_ = s_.argv;
  } else {
    PC_ASSIGN_OR_RETURN(exec_path_, ResolveProgram(s_.argv[0], s_.env));
    argv_ = s_.argv;
  }
  return Status::Ok();
}

Status MachineSetup::MakeStateDir() {
  if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("mkdir " + dir_, errno);
  // A failed start keeps a persisted writable layer (persist_rootfs: the machine's data).
  undo_.Add([dir = dir_, keep_root = s_.image && s_.image->persist] {
    RemoveStateFiles(dir);
    if (!keep_root) RemoveImageRoot(dir);
    ::rmdir(dir.c_str());
  });
  if (s_.sandbox) {
    std::string root = dir_ + "/" + kRootfsDir;
    if (::mkdir(root.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("mkdir " + root, errno);
  }
  return Status::Ok();
}

Status MachineSetup::MakeCgroup() {
  undo_.Add([cg = cg_, wait = env_.opt->kernel_wait] {  // also what a partial Create made
    (void)cg.KillAll(wait);
    (void)cg.Remove(wait);
  });
  return cg_.Create();
}

Status MachineSetup::WriteFiles() {
  PC_RETURN_IF_ERROR(WriteNewFile(dir_ + "/resolv.conf", s_.resolv_conf));
  return WriteNewFile(dir_ + "/hosts", s_.hosts);
}

Status MachineSetup::OpenLog() {
  if (!s_.log_path.empty()) {
    bool created = ::access(s_.log_path.c_str(), F_OK) != 0;
    log_fd_.reset(::open(s_.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
    if (!log_fd_) return ErrnoStatus("open log " + s_.log_path, errno);
    if (created) undo_.Add([p = s_.log_path] { ::unlink(p.c_str()); });
  }
  null_fd_.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd_) return ErrnoStatus("open /dev/null", errno);
  return Status::Ok();
}

Status MachineSetup::OpenNetns() {
  if (s_.netns_path.empty()) return Status::Ok();
  netns_fd_.reset(::open(s_.netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!netns_fd_) return ErrnoStatus("open netns " + s_.netns_path, errno);
  return Status::Ok();
}

Status MachineSetup::SpawnMain() {
  PC_RETURN_IF_ERROR(DupStdio());
  PC_RETURN_IF_ERROR(OpenCgroupAttach());
  PlanSpawn();
  if (s_.sandbox) PC_RETURN_IF_ERROR(PlanSandbox());
  PC_ASSIGN_OR_RETURN(main_, Spawn(plan_));
  undo_.Add([m = &main_] {
    PidfdSignal(m->pidfd.get(), SIGKILL);
    siginfo_t si;
    ::waitid(P_PIDFD, static_cast<id_t>(m->pidfd.get()), &si, WEXITED);
    m->pidfd.reset();
    m->pid = -1;
  });
  if (!s_.sandbox) return Status::Ok();
  report_wr_.reset();  // only privcast-init holds the write end now
  return ReadInitReport(report_rd_.get(), env_.opt->exec_wait, exec_path_);
}

Status MachineSetup::DupStdio() {
  if (s_.stdio) {
    const int log_or_null = log_fd_ ? log_fd_.get() : null_fd_.get();
    in_ = DupAbove2(s_.stdio->in >= 0 ? s_.stdio->in : null_fd_.get());
    out_ = DupAbove2(s_.stdio->out >= 0 ? s_.stdio->out : log_or_null);
    err_ = DupAbove2(s_.stdio->err >= 0 ? s_.stdio->err : log_or_null);
  } else {
    in_ = DupAbove2(null_fd_.get());
    out_ = DupAbove2(log_fd_.get());
    err_ = DupAbove2(log_fd_.get());
  }
  if (!in_ || !out_ || !err_) return ErrnoStatus("dup stdio", errno);
  return Status::Ok();
}

// The child moves itself into every machine cgroup before exec. v1: through `tasks`, not
// `cgroup.procs`: the child is a single thread, so that moves the whole process, and a
// `cgroup.procs` write takes cgroup_threadgroup_rwsem for writing, i.e. waits for an RCU
// grace period (measured 3-30 ms per start on this host, `tasks` 0.1 ms). v2 has only
// `cgroup.procs`. Not CLONE_INTO_CGROUP on v2: on the 6.18 kernel here a child cloned into
// a cgroup that once received cgroup.kill is SIGKILLed at fork, which broke restarts after
// a kill_timeout escalation (docs/supervisor.md#launch).
Status MachineSetup::OpenCgroupAttach() {
  const char* attach_file = cg_.version() == CgroupVersion::kV1 ? "/tasks" : "/cgroup.procs";
  for (const auto& d : cg_.dirs()) {
    UniqueFd fd(::open((d + attach_file).c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return ErrnoStatus("open " + d + attach_file, errno);
    plan_.cgroup_procs_fds.push_back(fd.get());
    procs_.push_back(std::move(fd));
  }
  return Status::Ok();
}

void MachineSetup::PlanSpawn() {
  plan_.exec_path = exec_path_;
  plan_.argv = argv_;
  plan_.env = s_.env;
  plan_.netns_fd = netns_fd_.get();
  plan_.hostname = s_.hostname.empty() ? s_.machine_id : s_.hostname;
  plan_.resolv_path = dir_ + "/resolv.conf";
  plan_.hosts_path = dir_ + "/hosts";
  plan_.stdin_fd = in_.get();
  plan_.stdout_fd = out_.get();
  plan_.stderr_fd = err_.get();
  plan_.controlling_tty = s_.stdio && s_.stdio->controlling_tty;
  plan_.working_dir = s_.working_dir;
}

// The sandbox part of the plan: user namespace, root (image, volumes), report pipe, and
// privcast-init as the program, running the machine's argv.
Status MachineSetup::PlanSandbox() {
  if (env_.opt->init_path.empty())
    return FailedPrecondition("sandboxed machine but no privcast-init (SupervisorOptions::init_path)");
  PC_RETURN_IF_ERROR(EnsureUserns());
  RootfsInputs ri = RootfsInputsFor();
  PC_RETURN_IF_ERROR(PrepareMounts(ri));
  rootfs_ = BuildRootfsPlan(ri);
  PC_RETURN_IF_ERROR(OpenReportPipe());
  plan_.sandbox = SandboxFor();
  ChownStdioToMachine(plan_.sandbox->ids);
  plan_.argv = InitArgv();
  return Status::Ok();
}

Status MachineSetup::EnsureUserns() {
  if (userns_->fd && userns_->ids == s_.sandbox->ids) return Status::Ok();
  PC_ASSIGN_OR_RETURN(userns_->fd, CreateUserNamespace(s_.sandbox->ids));
  userns_->ids = s_.sandbox->ids;
  return Status::Ok();
}

RootfsInputs MachineSetup::RootfsInputsFor() const {
  RootfsInputs ri;
  ri.root = dir_ + "/" + kRootfsDir;
  ri.ids = s_.sandbox->ids;
  ri.hostname = plan_.hostname;
  ri.hosts = s_.hosts;
  ri.resolv_conf = s_.resolv_conf;
  ri.etc = env_.host_etc;
  ri.init_path = env_.opt->init_path;
  for (size_t i = 0; i < cg_.dirs().size(); ++i) {
    if (cg_.version() == CgroupVersion::kV2) {
      ri.cgroups.emplace_back("", cg_.dirs()[i]);
    } else if (i < cg_.controllers().size()) {
      ri.cgroups.emplace_back(cg_.controllers()[i], cg_.dirs()[i]);
    }
  }
  if (plan_.controlling_tty) {
    char link[256];
    ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(s_.stdio->in)).c_str(), link, sizeof link - 1);
    if (n > 0) ri.tty_slave.assign(link, static_cast<size_t>(n));
  }
  return ri;
}

// The image's overlay and the volumes' idmapped mounts, detached, for the child to mount.
Status MachineSetup::PrepareMounts(RootfsInputs& ri) {
  if (s_.image) {
    ImageRootInputs ii;
    ii.image = &*s_.image;
    ii.dir = dir_;
    ii.ids = s_.sandbox->ids;
    ii.userns_fd = userns_->fd.get();
    ii.hostname = plan_.hostname;
    ii.hosts = s_.hosts;
    ii.resolv_conf = s_.resolv_conf;
    ii.working_dir = s_.working_dir;
    PC_ASSIGN_OR_RETURN(image_mount_, PrepareImageRoot(ii));
    ri.image_mount_fd = image_mount_.get();
  }
  for (const VolumeMount& v : s_.volumes) {
    PC_ASSIGN_OR_RETURN(UniqueFd mnt, PrepareVolumeMount(v, userns_->fd.get()));
    ri.volumes.emplace_back(v.destination, mnt.get());
    volume_mounts_.push_back(std::move(mnt));
  }
  return Status::Ok();
}

Status MachineSetup::OpenReportPipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  report_rd_.reset(fds[0]);
  report_wr_.reset(::fcntl(fds[1], F_DUPFD_CLOEXEC, 10));  // never 3: the child dup2s it to 3
  ::close(fds[1]);
  if (!report_wr_) return ErrnoStatus("dup report fd", errno);
  return Status::Ok();
}

SpawnSandbox MachineSetup::SandboxFor() const {
  SpawnSandbox sb;
  sb.ids = s_.sandbox->ids;
  sb.userns_fd = userns_->fd.get();
  sb.rootfs = &rootfs_;
  sb.init_in_root = kInitInRoot;
  sb.report_fd = report_wr_.get();
  sb.seccomp = env_.seccomp;
  // Never above our own hard limit: raising it needs CAP_SYS_RESOURCE, which a daemon in
  // a container (this VM's root, for one) may lack.
  struct rlimit own;
  sb.nofile = s_.sandbox->nofile;
  sb.ping_group_range = std::to_string(sb.ids.base) + " " + std::to_string(sb.ids.base + sb.ids.count - 1);
  if (::getrlimit(RLIMIT_NOFILE, &own) == 0 && own.rlim_max < sb.nofile) sb.nofile = own.rlim_max;
  return sb;
}

// The machine's root must be able to reopen its own stdio (/dev/stdout, /dev/stderr are
// /proc/self/fd links; a reopen checks the file's owner): the ids of its root get what is
// the machine's anyway — its log file, the daemon's pty slave and anonymous pipes and
// sockets — never a file or terminal of the caller's (runc does the same).
void MachineSetup::ChownStdioToMachine(const IdRange& ids) const {
  for (int fd : {in_.get(), out_.get(), err_.get()}) {
    struct stat st;
    if (::fstat(fd, &st) != 0) continue;
    bool log = log_fd_ && fd != in_.get() && !s_.stdio;
    if (log || plan_.controlling_tty || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
      if (S_ISCHR(st.st_mode) && !plan_.controlling_tty) continue;  // /dev/null
      (void)::fchown(fd, ids.base, ids.base);
    }
  }
}

std::vector<std::string> MachineSetup::InitArgv() const {
  std::vector<std::string> init_argv = {"privcast-init"};
  if (plan_.controlling_tty) init_argv.push_back("-t");
  if (s_.image && (s_.image->uid != 0 || s_.image->gid != 0)) {
    init_argv.push_back("-u");
    init_argv.push_back(std::to_string(s_.image->uid) + ":" + std::to_string(s_.image->gid));
  }
  init_argv.push_back("--");
  init_argv.insert(init_argv.end(), plan_.argv.begin(), plan_.argv.end());
  return init_argv;
}

Status MachineSetup::SaveRuntimeRecord() {
  PC_ASSIGN_OR_RETURN(ProcStat st, ReadProcStat(main_.pid));
  RuntimeRecord rec{main_.pid, st.start_time, cg_.dirs()};
  // The previous run's record describes a process that is gone. Remove it first: renaming
  // over an existing file makes ext4 flush the new one (auto_da_alloc), measured 0.5-2.4 ms
  // per start here against 0.05 ms for a rename onto nothing.
  const std::string path = dir_ + "/runtime";
  ::unlink(path.c_str());
  return SaveRecord(path, rec);
}

}  // namespace

void RemoveStateFiles(const std::string& dir) {
  for (const char* f : kStateFiles) ::unlink((dir + "/" + f).c_str());
  ::rmdir((dir + "/" + kRootfsDir).c_str());
}

int PidfdSignal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

Status UndoList::Rollback(Status cause) {
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) (*it)();
  undo_.clear();
  return cause;
}

Result<Spawned> SetupMachine(const SetupEnv& env, const LaunchSpec& spec, const MachineCgroup& cg,
                             const std::string& dir, MachineUserns* userns) {
  MachineSetup setup(env, spec, cg, dir, userns);
  return setup.Run();
}

}  // namespace privcast::supervisor
