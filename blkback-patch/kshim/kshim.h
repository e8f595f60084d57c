/*
 * Userspace stand-ins for the few kernel interfaces that
 * blkback-patch/src/migrate.c uses, so that the very same file runs in the
 * simulated VBD and in the unit tests (precedent: tools/testing/radix-tree
 * in Linux).  Semantics follow the kernel's: set_bit() and friends are
 * atomic, __set_bit() is not, xchg() and value-returning atomics are fully
 * ordered.  Spinlocks are pthread mutexes (the gate is never taken from a
 * signal handler here); RCU is a reader/writer lock (kshim.c).
 */
#ifndef XLMIG_KSHIM_H
#define XLMIG_KSHIM_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t s64;
/* uapi types, as <asm-generic/int-ll64.h> has them (the same typedefs
 * again are allowed), for the control interface's header */
typedef unsigned int __u32;
__extension__ typedef unsigned long long __u64;

#define BITS_PER_LONG ((int)(sizeof(long) * 8))
#define BIT(nr) (1UL << (nr))
#define DIV_ROUND_UP_ULL(n, d) (((unsigned long long)(n) + (d) - 1) / (d))
#define GFP_KERNEL 0

#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))

#define READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define smp_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define smp_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define smp_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#define smp_mb__before_atomic() smp_mb()
#define smp_mb__after_atomic() smp_mb()
#define xchg(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)

static inline unsigned int ilog2(unsigned long v)
{
	return (unsigned int)(BITS_PER_LONG - 1 - __builtin_clzl(v));
}

static inline unsigned long __ffs(unsigned long w)
{
	return (unsigned long)__builtin_ctzl(w);
}

static inline unsigned int hweight_long(unsigned long w)
{
	return (unsigned int)__builtin_popcountl(w);
}

/* bitops */
static inline bool test_and_set_bit(u64 nr, unsigned long *addr)
{
	unsigned long m = BIT(nr % BITS_PER_LONG);

	return __atomic_fetch_or(&addr[nr / BITS_PER_LONG], m,
				 __ATOMIC_SEQ_CST) & m;
}

static inline void set_bit(u64 nr, unsigned long *addr)
{
	__atomic_fetch_or(&addr[nr / BITS_PER_LONG], BIT(nr % BITS_PER_LONG),
			  __ATOMIC_RELAXED);
}

static inline void __set_bit(u64 nr, unsigned long *addr)
{
	addr[nr / BITS_PER_LONG] |= BIT(nr % BITS_PER_LONG);
}

static inline void bitmap_zero(unsigned long *dst, unsigned int nbits)
{
	memset(dst, 0, (nbits + BITS_PER_LONG - 1) / BITS_PER_LONG *
		       sizeof(unsigned long));
}

/* atomics */
typedef struct { s64 counter; } atomic64_t;
#define atomic64_set(a, v) \
	__atomic_store_n(&(a)->counter, (s64)(v), __ATOMIC_SEQ_CST)
#define atomic64_read(a) __atomic_load_n(&(a)->counter, __ATOMIC_SEQ_CST)
#define atomic64_add(v, a) \
	__atomic_fetch_add(&(a)->counter, (s64)(v), __ATOMIC_RELAXED)
#define atomic64_sub(v, a) \
	__atomic_fetch_sub(&(a)->counter, (s64)(v), __ATOMIC_RELAXED)

/* memory */
static inline void *kvcalloc(size_t n, size_t size, int gfp)
{
	(void)gfp;
	return calloc(n, size);
}
#define kvfree(p) free(p)

/* locks */
typedef pthread_mutex_t spinlock_t;
#define spin_lock_init(l) pthread_mutex_init((l), NULL)
#define spin_lock_irqsave(l, f) \
	do { (f) = 0; pthread_mutex_lock(l); } while (0)
#define spin_unlock_irqrestore(l, f) \
	do { (void)(f); pthread_mutex_unlock(l); } while (0)

/*
 * RCU, as far as the core needs it: readers never sleep and may nest;
 * synchronize_rcu() returns once every reader that started before it has
 * finished.  One process-wide lock that prefers the writer (kshim.c), so
 * that a stream of overlapping readers cannot hold a grace period off.
 */
void rcu_read_lock(void);
void rcu_read_unlock(void);
void synchronize_rcu(void);

/* lists */
struct list_head {
	struct list_head *next, *prev;
};

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(h, type, member) list_entry((h)->next, type, member)
#define list_next_entry(pos, member) \
	list_entry((pos)->member.next, __typeof__(*(pos)), member)
#define list_for_each_entry(pos, head, member) \
	for (pos = list_first_entry(head, __typeof__(*pos), member); \
	     &pos->member != (head); pos = list_next_entry(pos, member))
#define list_for_each_entry_safe(pos, n, head, member) \
	for (pos = list_first_entry(head, __typeof__(*pos), member), \
	     n = list_next_entry(pos, member); \
	     &pos->member != (head); pos = n, n = list_next_entry(n, member))

static inline void INIT_LIST_HEAD(struct list_head *l)
{
	l->next = l->prev = l;
}

static inline bool list_empty(const struct list_head *h)
{
	return h->next == h;
}

static inline void list_add_tail(struct list_head *n, struct list_head *h)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void list_del(struct list_head *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = NULL;
}

static inline void list_del_init(struct list_head *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	INIT_LIST_HEAD(n);
}

static inline void list_splice_tail_init(struct list_head *list,
					 struct list_head *head)
{
	if (list_empty(list))
		return;
	list->next->prev = head->prev;
	head->prev->next = list->next;
	list->prev->next = head;
	head->prev = list->prev;
	INIT_LIST_HEAD(list);
}

#endif
