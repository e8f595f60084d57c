// SPDX-License-Identifier: GPL-2.0-only
/*
 * Storage live migration support for xen-blkback: write tracking and the
 * post-copy read gate.  See migrate.h for the model; this file is built into
 * the kernel module and into the xlmig userspace harness alike.
 *
 * Tracking.  A write marks its blocks dirty when it completes, never when it
 * is dispatched, so a snapshot taken while the write is in flight cannot miss
 * it: the bit is either already set (the write completed) or will be set
 * after the snapshot and caught by the next one.  Marking is lockless (bio
 * completion context, several ring threads).  It sets the leaf bit first and
 * the summary bits above it afterwards, unconditionally; the collector clears
 * top-down, each level with an atomic exchange.  Together this guarantees
 * that a set leaf bit is always either collected or still reachable from the
 * top of the hierarchy.  A marker runs in an RCU read-side critical section,
 * so that stopping tracking can wait for the markers that may still see it
 * on (synchronize_rcu()) instead of counting them on every write.
 *
 * Gate.  On the destination, blocks whose newest data is still on the source
 * are "stale".  A read, or a write that covers only part of a stale block,
 * is parked until the block is installed; a write that covers whole stale
 * blocks proceeds and makes them current when it completes successfully.
 * Fetched data is installed in three steps: claim (only blocks still stale
 * and not being overwritten by an in-flight guest write are claimed), write
 * the data, commit.  A guest write that arrives for a claimed block waits
 * for the commit, so installed data can never land on top of newer guest
 * data.
 */

#include <linux/types.h>
#include <linux/bitops.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/atomic.h>
#include <linux/string.h>

#include "migrate.h"

/* ---- hierarchical bitmap ---------------------------------------------- */

static void bm_free(struct blkmig_bitmap *b)
{
	unsigned int k;

	for (k = 0; k < b->levels; k++)
		kvfree(b->level[k]);
	memset(b, 0, sizeof(*b));
}

static int bm_alloc(struct blkmig_bitmap *b, u64 nbits)
{
	u64 len = nbits;
	u64 words;
	unsigned int k;

	memset(b, 0, sizeof(*b));
	if (!nbits)
		return -EINVAL;
	b->nbits = nbits;
	for (k = 0; k < BLKMIG_MAX_LEVELS; k++) {
		words = DIV_ROUND_UP_ULL(len, BITS_PER_LONG);
		b->level[k] = kvcalloc(words, sizeof(unsigned long),
				       GFP_KERNEL);
		if (!b->level[k]) {
			bm_free(b);
			return -ENOMEM;
		}
		b->len[k] = len;
		b->levels = k + 1;
		if (words == 1)
			return 0;
		len = words;
	}
	bm_free(b);
	return -E2BIG;
}

static void bm_zero(struct blkmig_bitmap *b)
{
	unsigned int k;

	for (k = 0; k < b->levels; k++)
		memset(b->level[k], 0,
		       DIV_ROUND_UP_ULL(b->len[k], BITS_PER_LONG) *
		       sizeof(unsigned long));
}

static bool bm_test(const struct blkmig_bitmap *b, u64 nr)
{
	return b->level[0][nr / BITS_PER_LONG] & BIT(nr % BITS_PER_LONG);
}

/* Non-atomic: sets bits [first, last] of level k and the summaries above. */
static u64 bm_level_set(struct blkmig_bitmap *b, unsigned int k,
			u64 first, u64 last)
{
	u64 w0 = first / BITS_PER_LONG, w1 = last / BITS_PER_LONG, w;
	u64 newly = 0;
	unsigned long mask, *word;

	for (w = w0; w <= w1; w++) {
		mask = ~0UL;
		if (w == w0)
			mask &= ~0UL << (first % BITS_PER_LONG);
		if (w == w1)
			mask &= ~0UL >> (BITS_PER_LONG - 1 - last % BITS_PER_LONG);
		word = &b->level[k][w];
		newly += hweight_long(mask & ~*word);
		*word |= mask;
	}
	if (k + 1 < b->levels)
		bm_level_set(b, k + 1, w0, w1);
	return newly;
}

static u64 bm_set_range(struct blkmig_bitmap *b, u64 first, u64 count)
{
	if (!count)
		return 0;
	return bm_level_set(b, 0, first, first + count - 1);
}

/* Non-atomic: clears bit nr of level k, and summaries that become empty. */
static void bm_level_clear_bit(struct blkmig_bitmap *b, unsigned int k,
			       u64 nr)
{
	unsigned long *word = &b->level[k][nr / BITS_PER_LONG];

	*word &= ~BIT(nr % BITS_PER_LONG);
	if (!*word && k + 1 < b->levels)
		bm_level_clear_bit(b, k + 1, nr / BITS_PER_LONG);
}

static bool bm_test_and_clear(struct blkmig_bitmap *b, u64 nr)
{
	if (!bm_test(b, nr))
		return false;
	bm_level_clear_bit(b, 0, nr);
	return true;
}

/*
 * First set bit >= from, or b->nbits.  Climbs while the current word has
 * nothing at or after the position, then descends along set summary bits.
 * Summary bits may be stale (set over an empty word) in the lockless dirty
 * bitmap; a descent that meets an empty word resumes the climb after it.
 */
static u64 bm_find_next(const struct blkmig_bitmap *b, u64 from)
{
	unsigned int k = 0;
	u64 pos = from, w;
	unsigned long word;

	while (pos < b->len[k]) {
		w = pos / BITS_PER_LONG;
		word = READ_ONCE(b->level[k][w]) &
		       (~0UL << (pos % BITS_PER_LONG));
		if (!word) {
			if (k + 1 == b->levels)
				break;
			k++;
			pos = w + 1;
			continue;
		}
		pos = w * BITS_PER_LONG + __ffs(word);
		if (!k)
			return pos;
		/* Descend into the word that pos designates one level down. */
		k--;
		pos *= BITS_PER_LONG;
	}
	return b->nbits;
}

static bool bm_any_in(const struct blkmig_bitmap *b, u64 first, u64 last)
{
	return bm_find_next(b, first) <= last;
}

/* Lockless marking, leaves first, then every summary level upwards. */
static u64 bm_mark_atomic(struct blkmig_bitmap *b, u64 first, u64 last)
{
	u64 nr, newly = 0;
	unsigned int k;

	for (nr = first; nr <= last; nr++)
		if (!test_and_set_bit(nr, b->level[0]))
			newly++;
	for (k = 1; k < b->levels; k++) {
		first /= BITS_PER_LONG;
		last /= BITS_PER_LONG;
		/* Order the bits below before the summary bits above them. */
		smp_mb__before_atomic();
		for (nr = first; nr <= last; nr++)
			set_bit(nr, b->level[k]);
	}
	return newly;
}

/*
 * Moves the bits under word w of level k of src into dst (which only the
 * caller touches), clearing src top-down.  Returns the leaf bits moved.
 */
static u64 bm_collect_word(struct blkmig_bitmap *src,
			   struct blkmig_bitmap *dst, unsigned int k, u64 w,
			   u64 *fresh)
{
	unsigned long bits = xchg(&src->level[k][w], 0UL);
	unsigned long *leaf;
	u64 moved = 0;

	if (!k) {
		if (bits) {
			leaf = &dst->level[0][w];
			*fresh += hweight_long(bits & ~*leaf);
			if (!*leaf && dst->levels > 1)
				bm_level_set(dst, 1, w, w);
			*leaf |= bits;
		}
		return hweight_long(bits);
	}
	while (bits) {
		unsigned int i = __ffs(bits);

		bits &= bits - 1;
		moved += bm_collect_word(src, dst, k - 1,
					 w * BITS_PER_LONG + i, fresh);
	}
	return moved;
}

/*
 * Clears up to max runs of set bits, lowest first, and describes them in
 * out.  Returns the number of runs; *taken gets the number of bits.
 */
static unsigned int bm_take_runs(struct blkmig_bitmap *b,
				 struct blkmig_extent *out, unsigned int max,
				 u64 *taken)
{
	unsigned int n = 0;
	u64 pos = 0, start;

	*taken = 0;
	while (n < max) {
		start = bm_find_next(b, pos);
		if (start >= b->nbits)
			break;
		pos = start;
		while (pos < b->nbits && bm_test(b, pos)) {
			bm_level_clear_bit(b, 0, pos);
			pos++;
		}
		out[n].start = start;
		out[n].count = pos - start;
		*taken += pos - start;
		n++;
	}
	return n;
}

/* ---- common ------------------------------------------------------------ */

void blkmig_init(struct blkmig *m)
{
	memset(m, 0, sizeof(*m));
	spin_lock_init(&m->lock);
	atomic64_set(&m->dirty_count, 0);
	atomic64_set(&m->marked_total, 0);
	INIT_LIST_HEAD(&m->parked);
	INIT_LIST_HEAD(&m->covering);
}

static void gate_free_bitmaps(struct blkmig *m)
{
	bm_free(&m->stale);
	bm_free(&m->claimed);
	bm_free(&m->requested);
	bm_free(&m->wanted);
}

/* Only when no I/O can be in flight any more (VBD teardown). */
void blkmig_free(struct blkmig *m)
{
	blkmig_track_stop(m);
	bm_free(&m->dirty);
	bm_free(&m->frozen);
	gate_free_bitmaps(m);
	m->block_shift = 0;
}

static int set_geometry(struct blkmig *m, u64 nr_sectors,
			unsigned int block_size, bool *changed)
{
	unsigned int shift;

	if (!block_size || (block_size & (block_size - 1)))
		return -EINVAL;
	shift = ilog2(block_size);
	if (shift < BLKMIG_MIN_BLOCK_SHIFT || shift > BLKMIG_MAX_BLOCK_SHIFT ||
	    !nr_sectors)
		return -EINVAL;
	*changed = m->block_shift != shift || m->nr_sectors != nr_sectors;
	if (!*changed)
		return 0;
	/* Tracking and gate share the geometry: change it only when idle. */
	if (READ_ONCE(m->tracking) || m->gate_on)
		return -EBUSY;
	m->block_shift = shift;
	m->nr_sectors = nr_sectors;
	m->nr_blocks = (nr_sectors +
			(1ULL << (shift - BLKMIG_SECTOR_SHIFT)) - 1) >>
		       (shift - BLKMIG_SECTOR_SHIFT);
	return 0;
}

static inline unsigned int sect_shift(const struct blkmig *m)
{
	return m->block_shift - BLKMIG_SECTOR_SHIFT;
}

/* ---- tracking (source) ------------------------------------------------- */

int blkmig_track_start(struct blkmig *m, u64 nr_sectors,
		       unsigned int block_size)
{
	bool changed;
	int rc;

	if (READ_ONCE(m->tracking)) {
		/* Idempotent for the same geometry: xenstore watches refire. */
		rc = set_geometry(m, nr_sectors, block_size, &changed);
		return rc;
	}
	rc = set_geometry(m, nr_sectors, block_size, &changed);
	if (rc)
		return rc;
	if (changed || !m->dirty.levels) {
		bm_free(&m->dirty);
		bm_free(&m->frozen);
		rc = bm_alloc(&m->dirty, m->nr_blocks);
		if (!rc)
			rc = bm_alloc(&m->frozen, m->nr_blocks);
		if (rc) {
			bm_free(&m->dirty);
			return rc;
		}
	} else {
		bm_zero(&m->dirty);
		bm_zero(&m->frozen);
	}
	m->frozen_count = 0;
	m->overflow = 0;
	atomic64_set(&m->dirty_count, 0);
	atomic64_set(&m->marked_total, 0);
	/* Publish the bitmaps before markers can see tracking on. */
	smp_wmb();
	WRITE_ONCE(m->tracking, 1);
	return 0;
}

/*
 * Stops tracking.  Returns once no marker can touch the bitmaps any more,
 * so they may be freed or reused; sleeps (an RCU grace period).
 */
void blkmig_track_stop(struct blkmig *m)
{
	if (!READ_ONCE(m->tracking))
		return;
	WRITE_ONCE(m->tracking, 0);
	/* Wait for the markers that may have seen tracking on. */
	synchronize_rcu();
}

/*
 * Called when a write or discard completes, successfully or not.  Any
 * context: takes no lock and does not sleep.
 */
void blkmig_mark_written(struct blkmig *m, u64 sector, u64 nr_sectors)
{
	u64 first, last, newly;

	if (!nr_sectors)
		return;
	rcu_read_lock();
	if (!READ_ONCE(m->tracking))
		goto out;
	/* Pairs with the smp_wmb() in blkmig_track_start(). */
	smp_rmb();
	first = sector >> sect_shift(m);
	last = (sector + nr_sectors - 1) >> sect_shift(m);
	if (last >= m->nr_blocks) {
		/* The device grew under us: the copy can no longer be exact. */
		WRITE_ONCE(m->overflow, 1);
		if (first >= m->nr_blocks)
			goto out;
		last = m->nr_blocks - 1;
	}
	newly = bm_mark_atomic(&m->dirty, first, last);
	atomic64_add(newly, &m->dirty_count);
	atomic64_add(newly, &m->marked_total);
out:
	rcu_read_unlock();
}

/*
 * Moves every dirty block into the frozen set and returns the size of the
 * frozen set.  One caller at a time (the backend serialises snapshots).
 */
u64 blkmig_collect(struct blkmig *m)
{
	u64 moved, fresh = 0;

	if (!READ_ONCE(m->tracking))
		return m->frozen_count;
	moved = bm_collect_word(&m->dirty, &m->frozen, m->dirty.levels - 1, 0,
				&fresh);
	atomic64_sub(moved, &m->dirty_count);
	m->frozen_count += fresh;
	return m->frozen_count;
}

/* Drains up to max extents of the frozen set, in ascending block order. */
unsigned int blkmig_frozen_read(struct blkmig *m, struct blkmig_extent *out,
				unsigned int max)
{
	unsigned int n;
	u64 taken;

	if (!m->frozen.levels)
		return 0;
	n = bm_take_runs(&m->frozen, out, max, &taken);
	m->frozen_count -= taken;
	return n;
}

/* Puts frozen blocks back into the dirty set (a reader gave up). */
void blkmig_frozen_restore(struct blkmig *m)
{
	struct blkmig_extent e;
	u64 newly;

	while (blkmig_frozen_read(m, &e, 1)) {
		newly = bm_mark_atomic(&m->dirty, e.start,
				       e.start + e.count - 1);
		atomic64_add(newly, &m->dirty_count);
	}
}

/* ---- gate (destination) ------------------------------------------------ */

int blkmig_gate_start(struct blkmig *m, u64 nr_sectors,
		      unsigned int block_size)
{
	unsigned long flags;
	bool changed;
	int rc;

	spin_lock_irqsave(&m->lock, flags);
	if (m->gate_on) {
		spin_unlock_irqrestore(&m->lock, flags);
		return -EBUSY;
	}
	spin_unlock_irqrestore(&m->lock, flags);

	rc = set_geometry(m, nr_sectors, block_size, &changed);
	if (rc)
		return rc;
	gate_free_bitmaps(m);
	rc = bm_alloc(&m->stale, m->nr_blocks);
	if (!rc)
		rc = bm_alloc(&m->claimed, m->nr_blocks);
	if (!rc)
		rc = bm_alloc(&m->requested, m->nr_blocks);
	if (!rc)
		rc = bm_alloc(&m->wanted, m->nr_blocks);
	if (rc) {
		gate_free_bitmaps(m);
		return rc;
	}

	spin_lock_irqsave(&m->lock, flags);
	m->stale_count = 0;
	m->claimed_count = 0;
	m->wanted_count = 0;
	m->installed = 0;
	m->overwritten = 0;
	m->gate_on = true;
	spin_unlock_irqrestore(&m->lock, flags);
	return 0;
}

int blkmig_gate_add_stale(struct blkmig *m, u64 start, u64 count)
{
	unsigned long flags;
	int rc = 0;

	spin_lock_irqsave(&m->lock, flags);
	if (!m->gate_on)
		rc = -EINVAL;
	else if (start >= m->nr_blocks || count > m->nr_blocks - start)
		rc = -ERANGE;
	else
		m->stale_count += bm_set_range(&m->stale, start, count);
	spin_unlock_irqrestore(&m->lock, flags);
	return rc;
}

/* Block range of a request, clipped to the device; false if empty. */
static bool req_blocks(const struct blkmig *m, const struct blkmig_req *r,
		       u64 *first, u64 *last)
{
	u64 end;

	if (!r->nr_sectors || r->sector >= m->nr_sectors)
		return false;
	end = min(r->sector + r->nr_sectors, m->nr_sectors);
	*first = r->sector >> sect_shift(m);
	*last = (end - 1) >> sect_shift(m);
	return true;
}

static bool covers_block(const struct blkmig *m, const struct blkmig_req *r,
			 u64 b)
{
	u64 bs = b << sect_shift(m);
	u64 be = min((b + 1) << sect_shift(m), m->nr_sectors);

	return r->sector <= bs && r->sector + r->nr_sectors >= be;
}

/* Whole blocks a request covers: [*first, *last]; false if none. */
static bool covered_blocks(const struct blkmig *m, const struct blkmig_req *r,
			   u64 *first, u64 *last)
{
	if (!req_blocks(m, r, first, last))
		return false;
	if (!covers_block(m, r, *first))
		(*first)++;
	if (*last >= *first && !covers_block(m, r, *last)) {
		if (!*last)
			return false;
		(*last)--;
	}
	return *first <= *last;
}

static void request_block(struct blkmig *m, u64 b, bool *wake)
{
	if (bm_test(&m->requested, b) || bm_test(&m->claimed, b))
		return;
	bm_set_range(&m->requested, b, 1);
	bm_set_range(&m->wanted, b, 1);
	m->wanted_count++;
	*wake = true;
}

static void forget_request(struct blkmig *m, u64 b)
{
	bm_test_and_clear(&m->requested, b);
	if (bm_test_and_clear(&m->wanted, b))
		m->wanted_count--;
}

/* Must r wait?  Demands the stale blocks it waits for.  Lock held. */
static bool must_park(struct blkmig *m, struct blkmig_req *r, bool *wake)
{
	u64 first, last, b;
	bool park;

	if (!req_blocks(m, r, &first, &last))
		return false;
	park = bm_any_in(&m->claimed, first, last);
	if (!r->write) {
		for (b = bm_find_next(&m->stale, first); b <= last;
		     b = bm_find_next(&m->stale, b + 1)) {
			park = true;
			request_block(m, b, wake);
		}
		return park;
	}
	/* A write only waits for stale blocks it covers partially. */
	if (bm_test(&m->stale, first) && !covers_block(m, r, first)) {
		park = true;
		request_block(m, first, wake);
	}
	if (last != first && bm_test(&m->stale, last) &&
	    !covers_block(m, r, last)) {
		park = true;
		request_block(m, last, wake);
	}
	return park;
}

/* r proceeds: a write over stale blocks joins the covering list. */
static void admit_effects(struct blkmig *m, struct blkmig_req *r)
{
	u64 first, last;

	r->covering = false;
	if (!r->write || !covered_blocks(m, r, &first, &last))
		return;
	if (bm_any_in(&m->stale, first, last)) {
		r->covering = true;
		list_add_tail(&r->cover_node, &m->covering);
	}
}

enum blkmig_verdict blkmig_gate_admit(struct blkmig *m, struct blkmig_req *r,
				      bool *wake_wanted)
{
	enum blkmig_verdict v = BLKMIG_PROCEED;
	unsigned long flags;

	*wake_wanted = false;
	r->covering = false;
	spin_lock_irqsave(&m->lock, flags);
	if (m->gate_on && must_park(m, r, wake_wanted)) {
		list_add_tail(&r->node, &m->parked);
		m->nr_parked++;
		v = BLKMIG_PARKED;
	} else if (m->gate_on) {
		admit_effects(m, r);
	}
	spin_unlock_irqrestore(&m->lock, flags);
	return v;
}

/* Moves parked requests that may now proceed to ready.  Lock held. */
static void recheck_parked(struct blkmig *m, struct list_head *ready,
			   bool *wake)
{
	struct blkmig_req *r, *tmp;

	list_for_each_entry_safe(r, tmp, &m->parked, node) {
		if (must_park(m, r, wake))
			continue;
		list_del(&r->node);
		m->nr_parked--;
		admit_effects(m, r);
		list_add_tail(&r->node, ready);
	}
}

/*
 * A write admitted over stale blocks ended.  Returns true if blocks are
 * demanded anew: after a failure they stay stale, and the requests that
 * wait for them ask for them again.
 */
bool blkmig_gate_write_done(struct blkmig *m, struct blkmig_req *r, bool ok,
			    struct list_head *ready)
{
	unsigned long flags;
	u64 first, last, b;
	bool wake = false;

	if (!r->covering)
		return false;
	spin_lock_irqsave(&m->lock, flags);
	list_del(&r->cover_node);
	r->covering = false;
	if (m->gate_on && covered_blocks(m, r, &first, &last)) {
		for (b = bm_find_next(&m->stale, first); b <= last;
		     b = bm_find_next(&m->stale, b + 1)) {
			/*
			 * On success the guest's data is now the block's
			 * newest.  On failure the block stays stale; forget
			 * the demand so that waiters ask for it again (an
			 * install may have been refused meanwhile).
			 */
			if (ok) {
				bm_level_clear_bit(&m->stale, 0, b);
				m->stale_count--;
				m->overwritten++;
			}
			forget_request(m, b);
		}
		recheck_parked(m, ready, &wake);
	}
	spin_unlock_irqrestore(&m->lock, flags);
	return wake;
}

/* Is block b under an in-flight write that will make it current?  Locked. */
static bool being_overwritten(struct blkmig *m, u64 b)
{
	struct blkmig_req *r;
	u64 first, last;

	list_for_each_entry(r, &m->covering, cover_node)
		if (covered_blocks(m, r, &first, &last) &&
		    first <= b && b <= last)
			return true;
	return false;
}

/*
 * Claims the blocks of [start, start + count) that still need the fetched
 * data: stale, not claimed, not being overwritten by the guest.  Sets their
 * bits in mask (bit i for block start + i, count <= BLKMIG_MAX_CLAIM) and
 * returns how many, or a negative errno.
 */
long blkmig_claim(struct blkmig *m, u64 start, u64 count, unsigned long *mask)
{
	unsigned long flags;
	long n = 0;
	u64 b;

	if (!count || count > BLKMIG_MAX_CLAIM)
		return -EINVAL;
	bitmap_zero(mask, count);
	spin_lock_irqsave(&m->lock, flags);
	if (!m->gate_on) {
		n = -ENODEV;
		goto out;
	}
	if (start >= m->nr_blocks || count > m->nr_blocks - start) {
		n = -ERANGE;
		goto out;
	}
	for (b = bm_find_next(&m->stale, start); b < start + count;
	     b = bm_find_next(&m->stale, b + 1)) {
		if (bm_test(&m->claimed, b) || being_overwritten(m, b))
			continue;
		bm_set_range(&m->claimed, b, 1);
		__set_bit(b - start, mask);
		n++;
	}
	m->claimed_count += n;
out:
	spin_unlock_irqrestore(&m->lock, flags);
	return n;
}

/*
 * Ends the claims on the blocks of [start, start + count): their data is
 * on disk now (installed) or the install failed and they stay stale.
 * Releases the parked requests that may proceed.  Lock held.
 */
static void settle_claimed(struct blkmig *m, u64 start, u64 count,
			   bool installed, struct list_head *ready, bool *wake)
{
	u64 b;

	if (!m->gate_on || start >= m->nr_blocks ||
	    count > m->nr_blocks - start)
		return;
	for (b = bm_find_next(&m->claimed, start); b < start + count;
	     b = bm_find_next(&m->claimed, b + 1)) {
		bm_level_clear_bit(&m->claimed, 0, b);
		m->claimed_count--;
		if (installed && bm_test_and_clear(&m->stale, b)) {
			m->stale_count--;
			m->installed++;
		}
		forget_request(m, b);
	}
	recheck_parked(m, ready, wake);
}

/*
 * The claimed blocks of the range now hold their data on disk.  They are
 * current, so the requests this releases demand nothing new.
 */
void blkmig_commit(struct blkmig *m, u64 start, u64 count,
		   struct list_head *ready)
{
	unsigned long flags;
	bool wake = false;

	spin_lock_irqsave(&m->lock, flags);
	settle_claimed(m, start, count, true, ready, &wake);
	spin_unlock_irqrestore(&m->lock, flags);
}

/* The install of the claimed blocks failed: they stay stale. */
void blkmig_unclaim(struct blkmig *m, u64 start, u64 count,
		    struct list_head *ready, bool *wake_wanted)
{
	unsigned long flags;

	*wake_wanted = false;
	spin_lock_irqsave(&m->lock, flags);
	settle_claimed(m, start, count, false, ready, wake_wanted);
	spin_unlock_irqrestore(&m->lock, flags);
}

/* Takes up to max extents of demanded blocks, ascending. */
unsigned int blkmig_wanted_pop(struct blkmig *m, struct blkmig_extent *out,
			       unsigned int max)
{
	unsigned long flags;
	unsigned int n = 0;
	u64 taken;

	spin_lock_irqsave(&m->lock, flags);
	if (m->gate_on) {
		n = bm_take_runs(&m->wanted, out, max, &taken);
		m->wanted_count -= taken;
	}
	spin_unlock_irqrestore(&m->lock, flags);
	return n;
}

bool blkmig_wanted_pending(struct blkmig *m)
{
	unsigned long flags;
	bool pending;

	spin_lock_irqsave(&m->lock, flags);
	pending = m->gate_on && m->wanted_count;
	spin_unlock_irqrestore(&m->lock, flags);
	return pending;
}

/*
 * Turns the gate off and hands every parked request to the caller: to be
 * dispatched if no block is stale any more, failed otherwise.  Writes still
 * on the covering list finish through blkmig_gate_write_done() as usual.
 */
void blkmig_gate_stop(struct blkmig *m, struct list_head *orphans)
{
	unsigned long flags;

	spin_lock_irqsave(&m->lock, flags);
	m->gate_on = false;
	list_splice_tail_init(&m->parked, orphans);
	m->nr_parked = 0;
	spin_unlock_irqrestore(&m->lock, flags);
}

/*
 * Hands every parked request to the caller and leaves the gate on: the
 * backend is tearing down the rings those requests came from (the frontend
 * disconnected) and fails them, while the blocks stay stale for whoever
 * connects next.  The demands they made stay recorded.
 */
void blkmig_gate_take_parked(struct blkmig *m, struct list_head *out)
{
	unsigned long flags;

	spin_lock_irqsave(&m->lock, flags);
	list_splice_tail_init(&m->parked, out);
	m->nr_parked = 0;
	spin_unlock_irqrestore(&m->lock, flags);
}

void blkmig_get_stats(struct blkmig *m, struct blkmig_stats *st)
{
	unsigned long flags;
	s64 dirty = atomic64_read(&m->dirty_count);

	memset(st, 0, sizeof(*st));
	st->block_size = m->block_shift ? 1U << m->block_shift : 0;
	st->nr_blocks = m->nr_blocks;
	st->tracking = READ_ONCE(m->tracking);
	st->overflow = READ_ONCE(m->overflow);
	st->dirty = dirty > 0 ? dirty : 0;
	st->frozen = m->frozen_count;
	st->marked = atomic64_read(&m->marked_total);
	spin_lock_irqsave(&m->lock, flags);
	st->gate = m->gate_on;
	st->stale = m->stale_count;
	st->claimed = m->claimed_count;
	st->wanted = m->wanted_count;
	st->parked = m->nr_parked;
	st->installed = m->installed;
	st->overwritten = m->overwritten;
	spin_unlock_irqrestore(&m->lock, flags);
}
