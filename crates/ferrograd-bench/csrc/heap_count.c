/*
 * Counts every heap allocation of the benchmark worker process, whatever allocates: Rust's
 * global allocator, LibTorch's C++ `operator new` and CPU allocator, any thread.
 *
 * The `ferrograd-bench` executable defines glibc's allocation entry points itself. The linker
 * exports them because LibTorch's shared libraries reference them, so the dynamic linker binds
 * every library's `malloc` to these definitions (the executable comes first in the lookup
 * order). Each counts one allocation and forwards to glibc's own implementation
 * (`__libc_malloc` and friends, exported by glibc for exactly this kind of wrapper). `free`
 * is left to glibc: the memory is glibc's.
 *
 * Written in C rather than Rust because it replaces the C allocator's symbols; the Rust side
 * (`src/heap_count.rs`) only reads the counter. One relaxed atomic increment per allocation.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

static _Atomic uint64_t allocations;

static inline void count(void) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

/* The number of allocations so far (malloc, calloc, realloc, and the aligned variants). */
uint64_t ferrograd_bench_heap_allocations(void) {
    return atomic_load_explicit(&allocations, memory_order_relaxed);
}

void *malloc(size_t size) {
    count();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
    count();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size) {
    count();
    return __libc_realloc(p, size);
}

void *memalign(size_t align, size_t size) {
    count();
    return __libc_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size) {
    count();
    return __libc_memalign(align, size);
}

void *valloc(size_t size) {
    count();
    return __libc_valloc(size);
}

void *pvalloc(size_t size) {
    count();
    return __libc_pvalloc(size);
}

int posix_memalign(void **out, size_t align, size_t size) {
    /* glibc's checks: a power of two, and a multiple of sizeof(void *). */
    if (align % sizeof(void *) != 0 || (align & (align - 1)) != 0 || align == 0) {
        return EINVAL;
    }
    count();
    void *p = __libc_memalign(align, size);
    if (p == NULL && size != 0) {
        return ENOMEM;
    }
    *out = p;
    return 0;
}
