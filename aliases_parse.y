%{
/*
 * aliases_parse.y - aliases(5) grammar and the alias table loader.
 *
 * Owns the alias table it builds (struct alias pairs, in file order) and
 * nothing else: the parser is pure and its state lives in a struct on the
 * caller's stack, so alias_load() can be called any number of times.
 * Side effects: opens and reads the aliases file named by the caller; it
 * never prints or exits (yyerror only records the line).  Runs with the
 * caller's privilege (dma, setgid mail).
 *
 * Grammar: one entry per line, "name: dest, dest, ...".  Destinations are
 * separated by commas; an empty right-hand side and ":include:" are syntax
 * errors.  Program ("|cmd") and file ("/path") targets are accepted here
 * and refused by rcpt.c when used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dma.h"

/* Parser state of one file. */
struct alias_parse {
	struct alias *head;	/* pairs so far, in file order */
	struct alias **tailp;
	int	 errline;	/* line of the first syntax error, or 0 */
};

int	 alias_scan_begin(FILE *fp, void **scanner);
int	 alias_scan_error(void *scanner);
void	 alias_scan_end(void *scanner);
%}

%define api.pure full
%define api.prefix {alias_yy}
%locations
%parse-param {struct alias_parse *ctx} {void *scanner}
%lex-param {void *scanner}

%union {
	char	*str;
	struct alias *list;
}

%code requires {
struct alias_parse;
}

%code {
int	 alias_yylex(ALIAS_YYSTYPE *, ALIAS_YYLTYPE *, void *);
static void alias_yyerror(ALIAS_YYLTYPE *, struct alias_parse *, void *, const char *);
static struct alias *dest_new(char *);
static void entry_add(struct alias_parse *, char *, struct alias *);
}

%token <str> IDENT
%token NL ERR
%type <list> dests

%destructor { free($$); } <str>
%destructor { alias_free($$); } <list>

%%

file	: /* empty */
	| file line
	;

line	: NL
	| IDENT ':' dests NL		{ entry_add(ctx, $1, $3); }
	;

dests	: IDENT				{ $$ = dest_new($1); }
	| dests ',' IDENT		{
						struct alias *a = $1;

						while (a->next != NULL)
							a = a->next;
						a->next = dest_new($3);
						$$ = $1;
					}
	;

%%

/* alias_yyerror - remember where parsing stopped; the caller reports it */
static void
alias_yyerror(ALIAS_YYLTYPE *loc, struct alias_parse *ctx, void *sc, const char *msg)
{
	(void)sc;
	(void)msg;
	if (ctx->errline == 0)
		ctx->errline = loc->first_line;
}

/* dest_new - a pair without name yet, taking ownership of dest */
static struct alias *
dest_new(char *dest)
{
	struct alias *a = xcalloc(1, sizeof(*a));

	a->dest = dest;
	return (a);
}

/* entry_add - name each pair of list and append them to the table */
static void
entry_add(struct alias_parse *ctx, char *name, struct alias *list)
{
	struct alias *a;

	for (a = list; a != NULL; a = a->next)
		a->name = xstrdup(name);
	free(name);
	*ctx->tailp = list;
	while (*ctx->tailp != NULL)
		ctx->tailp = &(*ctx->tailp)->next;
}

int
alias_load_file(FILE *fp, const char *name, struct alias **tbl, char *why, size_t whylen)
{
	struct alias_parse ctx;
	void *scanner;
	int r, rderr;

	*tbl = NULL;
	memset(&ctx, 0, sizeof(ctx));
	ctx.tailp = &ctx.head;
	if (alias_scan_begin(fp, &scanner) != 0) {
		set_why(why, whylen, "could not parse aliases file `%s': %s", name,
		    strerror(ENOMEM));
		return (-1);
	}
	r = alias_yyparse(&ctx, scanner);
	rderr = alias_scan_error(scanner);
	alias_scan_end(scanner);
	if (rderr != 0) {
		set_why(why, whylen, "could not parse aliases file `%s': %s", name,
		    strerror(rderr));
	} else if (r != 0 && ctx.errline != 0) {
		set_why(why, whylen, "aliases line %d: syntax error", ctx.errline);
	} else if (r != 0) {
		set_why(why, whylen, "could not parse aliases file `%s': %s", name,
		    strerror(ENOMEM));
	} else {
		*tbl = ctx.head;
		return (0);
	}
	alias_free(ctx.head);
	return (-1);
}

int
alias_load(const char *path, struct alias **tbl, char *why, size_t whylen)
{
	FILE *fp;
	int r;

	*tbl = NULL;
	if ((fp = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return (0);
		set_why(why, whylen, "could not parse aliases file `%s': %s", path,
		    strerror(errno));
		return (-1);
	}
	r = alias_load_file(fp, path, tbl, why, whylen);
	fclose(fp);
	return (r);
}

void
alias_free(struct alias *tbl)
{
	struct alias *next;

	for (; tbl != NULL; tbl = next) {
		next = tbl->next;
		free(tbl->name);
		free(tbl->dest);
		free(tbl);
	}
}
