/* Hides CPU features from a process, so that a benchmark can run the code paths of an
 * older CPU kind (AVX2 only, AVX-512 without AMX, ...) on a newer one.
 *
 * Loaded with LD_PRELOAD. Its constructor turns on CPUID faulting for the process
 * (arch_prctl ARCH_SET_CPUID, Linux 4.12+, CPUs and hypervisors that offer "cpuid_fault"):
 * every CPUID instruction then raises SIGSEGV, which the handler answers with the real
 * CPUID result minus the features named in CPUID_MASK_LEAF7_* (hex masks of the bits to
 * clear in leaf 7 sub-leaf 0 EBX/ECX/EDX and sub-leaf 1 EAX). Libraries that dispatch on
 * CPUID at run time (XNNPACK, oneDNN, numpy) then choose the kernels of the older CPU.
 * Opening /proc/cpuinfo opens CPUID_MASK_CPUINFO instead when that is set, so that code
 * reading the flags from there sees the same CPU.
 *
 * glibc's own CPUID reads at start-up happen before the constructor and are not masked
 * (memcpy and friends may still use AVX-512): this changes the kernels of the numerical
 * libraries, not the machine's clock, caches or memory. */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static unsigned int mask_ebx7, mask_ecx7, mask_edx7, mask_eax71;
static const char *cpuinfo_copy;

static unsigned int env_mask(const char *name) {
    const char *value = getenv(name);
    return value ? (unsigned int)strtoul(value, NULL, 16) : 0u;
}

static void on_segv(int sig, siginfo_t *info, void *context) {
    ucontext_t *uc = (ucontext_t *)context;
    unsigned char *rip = (unsigned char *)uc->uc_mcontext.gregs[REG_RIP];
    (void)info;
    if (rip[0] != 0x0f || rip[1] != 0xa2) {  /* not CPUID: a real fault */
        signal(sig, SIG_DFL);
        return;
    }
    unsigned int leaf = (unsigned int)uc->uc_mcontext.gregs[REG_RAX];
    unsigned int sub = (unsigned int)uc->uc_mcontext.gregs[REG_RCX];
    unsigned int a, b, c, d;
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
    __cpuid_count(leaf, sub, a, b, c, d);
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
    if (leaf == 7 && sub == 0) {
        b &= ~mask_ebx7;
        c &= ~mask_ecx7;
        d &= ~mask_edx7;
    } else if (leaf == 7 && sub == 1) {
        a &= ~mask_eax71;
    }
    uc->uc_mcontext.gregs[REG_RAX] = a;
    uc->uc_mcontext.gregs[REG_RBX] = b;
    uc->uc_mcontext.gregs[REG_RCX] = c;
    uc->uc_mcontext.gregs[REG_RDX] = d;
    uc->uc_mcontext.gregs[REG_RIP] += 2;
}

__attribute__((constructor)) static void cpuid_mask_init(void) {
    mask_ebx7 = env_mask("CPUID_MASK_LEAF7_EBX");
    mask_ecx7 = env_mask("CPUID_MASK_LEAF7_ECX");
    mask_edx7 = env_mask("CPUID_MASK_LEAF7_EDX");
    mask_eax71 = env_mask("CPUID_MASK_LEAF7_1_EAX");
    cpuinfo_copy = getenv("CPUID_MASK_CPUINFO");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0) {
        fprintf(stderr, "cpuid_mask: this CPU or kernel cannot fault on CPUID\n");
        _exit(3);
    }
}

static const char *redirect(const char *path) {
    if (cpuinfo_copy && path && strcmp(path, "/proc/cpuinfo") == 0)
        return cpuinfo_copy;
    return path;
}

/* the mode argument an open call carries when it may create a file */
#define MODE_ARG(flags, mode)                                                     \
    if ((flags) & (O_CREAT | O_TMPFILE)) {                                        \
        va_list ap;                                                               \
        va_start(ap, flags);                                                      \
        mode = va_arg(ap, mode_t);                                                \
        va_end(ap);                                                               \
    }

#define OPEN_WRAPPER(name)                                                        \
    int name(const char *path, int flags, ...) {                                  \
        static int (*real)(const char *, int, ...);                               \
        if (!real) real = dlsym(RTLD_NEXT, #name);                                \
        mode_t mode = 0;                                                          \
        MODE_ARG(flags, mode);                                                    \
        return real(redirect(path), flags, mode);                                 \
    }
OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

#define OPENAT_WRAPPER(name)                                                      \
    int name(int dirfd, const char *path, int flags, ...) {                       \
        static int (*real)(int, const char *, int, ...);                          \
        if (!real) real = dlsym(RTLD_NEXT, #name);                                \
        mode_t mode = 0;                                                          \
        MODE_ARG(flags, mode);                                                    \
        return real(dirfd, redirect(path), flags, mode);                          \
    }
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

FILE *fopen(const char *path, const char *mode) {
    static FILE *(*real)(const char *, const char *);
    if (!real) real = dlsym(RTLD_NEXT, "fopen");
    return real(redirect(path), mode);
}
FILE *fopen64(const char *path, const char *mode) {
    static FILE *(*real)(const char *, const char *);
    if (!real) real = dlsym(RTLD_NEXT, "fopen64");
    return real(redirect(path), mode);
}
