// Clang's thread-safety analysis (-Wthread-safety) as macros: what a lock guards and what a
// function needs held, checked at compile time by the clang build CI makes
// (PRIVCAST_THREAD_SAFETY, ADR 0020). On GCC, and on clang without the analysis, every macro
// is empty: the annotations cost nothing and change no code.
//
// The vocabulary (clang's "Thread Safety Analysis" documentation):
//   GUARDED_BY(mu)      a member read or written only with mu held
//   PT_GUARDED_BY(mu)   the pointee of a pointer member, likewise
//   REQUIRES(mu)        the caller holds mu (our *Locked functions)
//   EXCLUDES(mu)        the caller must not hold mu (the function takes it)
//   ACQUIRE/RELEASE     the function takes / lets go of a capability
//   CAPABILITY(name)    a type that is a lock; SCOPED_CAPABILITY an RAII holder of one
// std::mutex carries no annotations in libstdc++: lock through common/mutex.h's Mutex.
// Abseil (under gRPC's headers) defines the same names with the same meaning, so each is
// defined here only if not defined yet: whichever header comes first, one definition holds.
//
// Thread-safety: macros only.
#pragma once

#if defined(__clang__)
#define PC_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define PC_THREAD_ANNOTATION(x)
#endif

#ifndef CAPABILITY
#define CAPABILITY(x) PC_THREAD_ANNOTATION(capability(x))
#endif
#ifndef SCOPED_CAPABILITY
#define SCOPED_CAPABILITY PC_THREAD_ANNOTATION(scoped_lockable)
#endif
#ifndef GUARDED_BY
#define GUARDED_BY(x) PC_THREAD_ANNOTATION(guarded_by(x))
#endif
#ifndef PT_GUARDED_BY
#define PT_GUARDED_BY(x) PC_THREAD_ANNOTATION(pt_guarded_by(x))
#endif
#ifndef ACQUIRED_BEFORE
#define ACQUIRED_BEFORE(...) PC_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#endif
#ifndef ACQUIRED_AFTER
#define ACQUIRED_AFTER(...) PC_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#endif
#ifndef REQUIRES
#define REQUIRES(...) PC_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#endif
#ifndef REQUIRES_SHARED
#define REQUIRES_SHARED(...) PC_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#endif
#ifndef ACQUIRE
#define ACQUIRE(...) PC_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#endif
#ifndef RELEASE
#define RELEASE(...) PC_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#endif
#ifndef TRY_ACQUIRE
#define TRY_ACQUIRE(...) PC_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#endif
#ifndef EXCLUDES
#define EXCLUDES(...) PC_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#endif
#ifndef ASSERT_CAPABILITY
#define ASSERT_CAPABILITY(x) PC_THREAD_ANNOTATION(assert_capability(x))
#endif
#ifndef RETURN_CAPABILITY
#define RETURN_CAPABILITY(x) PC_THREAD_ANNOTATION(lock_returned(x))
#endif
// For the rare function the analysis cannot follow (say why at the use).
#ifndef NO_THREAD_SAFETY_ANALYSIS
#define NO_THREAD_SAFETY_ANALYSIS PC_THREAD_ANNOTATION(no_thread_safety_analysis)
#endif
