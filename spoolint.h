/*
 * spoolint.h - what the four files of the queue share: spool.c (file
 * format, create and commit, reading one entry), spoolacq.c (acquire,
 * group entries, the state rewrite, remove and release), spoollist.c
 * (listing, cleanup, -bp) and spoolstate.c (daemon lock, flush file).
 * The other three call into spool.c, never the other way, and spoollist.c
 * into spoolacq.c.  No other module includes it (but the fuzz targets):
 * the rest of dma sees the queue through the spool_* functions of dma.h
 * only.
 */
#ifndef SPOOLINT_H
#define SPOOLINT_H

#define QFILE_MAX	(64 * 1024)	/* cap on a Q file read back */
#define STALE_TMP_AGE	60		/* seconds before a dead tmp_ goes */
#define QID_MAX		64		/* length of "{msgid}.{n}" */
#define SPOOL_VERSION	2		/* Q file and trailer version */
#define SPOOL_VERSION_GROUP 3		/* a Q file of several recipients, and
					   a trailer naming such entries */
#define GROUP_TEXT_MAX	(32 * 1024)	/* cap on the Recipient lines of one Q */
#define TAIL_PREFIX	"DMA-Trailer: "	/* the trailer's last line: */
#define TAIL_FMT	TAIL_PREFIX "%03u %016llx\n"
#define TAIL_LEN	(sizeof(TAIL_PREFIX) - 1 + 3 + 1 + 16 + 1)
#define TRAILER_MAX	(16 * 1024 * 1024) /* cap on a trailer read back */
#define WHY_MAX		(2 * PATH_MAX + 512) /* a reason naming Q and M */

struct stat;

/* Recipients as stored in a Q file or a trailer, in order. */
struct rlist {
	char	**v;
	size_t	 n;
};

/* spool.c */
void	 spool_rlist_free(struct rlist *rl);
int	 spool_trailer_entry(const char *buf, size_t tlen, const char *msgid,
	    unsigned long long n, struct qitem *e, struct rlist *rl, char *why,
	    size_t whylen);
const char *spool_dir(void);
int	 spool_path(char *buf, size_t len, const char *prefix, const char *name);
int	 spool_dir_sync(void);
int	 spool_qid_ok(const char *s);
int	 spool_qid_cmp(const char *a, const char *b);
int	 spool_write_all(int fd, const char *buf, size_t len);
int	 spool_create_exact(const char *path, int flags, mode_t mode);
struct qitem *spool_item_new(const char *qid, const char *sender,
	    const char *addr);
int	 spool_parse_lines(const char *buf, size_t len, const char *const *keys,
	    char **val, unsigned want, unsigned *nrcpt, char *why,
	    size_t whylen);
int	 spool_trailer_tail(int fd, off_t size, off_t *mlen, char *why,
	    size_t whylen);
int	 spool_exists(const char *path);
int	 spool_uncommitted(const char *qid);
int	 spool_read_envelope(int fd, const struct stat *st, const char *qid,
	    const char *qpath, const char *mpath, struct qitem *e,
	    struct rlist *rl, char *why, size_t whylen);
void	 spool_qid_remember(struct qitem *it, const struct stat *st);
int	 spool_q_unchanged(const struct qitem *it, const struct stat *st);
void	 spool_state_copy(struct qstate *dst, const struct qstate *src);
void	 spool_state_move(struct qstate *dst, struct qstate *src);
int	 spool_parse_entry(int fd, const char *qid, struct qitem *it,
	    char *why, size_t whylen);

/* spoolacq.c */
void	 spool_item_free(struct qitem *it);	/* released first */

#endif /* SPOOLINT_H */
