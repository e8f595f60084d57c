/*
 * The process-wide state of the kernel shim (kshim.h): RCU as a
 * reader/writer lock.  A reader holds the lock shared for the outermost of
 * its nested read-side sections; synchronize_rcu() takes it exclusively
 * once, which waits for every reader that got in before.  The lock prefers
 * writers, so nested readers must not re-take it: the depth is per thread.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#include "kshim.h"

static pthread_rwlock_t rcu_lock;
static pthread_once_t rcu_once = PTHREAD_ONCE_INIT;
static _Thread_local unsigned int rcu_depth;

static void rcu_lock_init(void)
{
	pthread_rwlockattr_t a;

	if (pthread_rwlockattr_init(&a) ||
	    pthread_rwlockattr_setkind_np(&a,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP) ||
	    pthread_rwlock_init(&rcu_lock, &a))
		abort();
	pthread_rwlockattr_destroy(&a);
}

void rcu_read_lock(void)
{
	if (rcu_depth++)
		return;
	pthread_once(&rcu_once, rcu_lock_init);
	if (pthread_rwlock_rdlock(&rcu_lock))
		abort();
}

void rcu_read_unlock(void)
{
	if (--rcu_depth)
		return;
	pthread_rwlock_unlock(&rcu_lock);
}

void synchronize_rcu(void)
{
	pthread_once(&rcu_once, rcu_lock_init);
	if (pthread_rwlock_wrlock(&rcu_lock))
		abort();
	pthread_rwlock_unlock(&rcu_lock);
}
