/*
 * The CSR bodies for one element type (FGDM_T) and one index type (FGDM_I); included by
 * csr.h, names made with FGDM_SI.
 */

/* The first batch position whose row has a malformed index pointer (not 0 <= start <=
 * end <= nnz_cap) or a column outside [0, d), or -1: the rows were checked by fgdm_check,
 * so that a CSR matrix built by hand cannot make a kernel read out of bounds. */
static ptrdiff_t FGDM_SI(fgdm_csr_bad_row)(const fgdm_args *a)
{
    const FGDM_I *FGDM_RESTRICT ind = (const FGDM_I *)a->indices;
    const FGDM_I *FGDM_RESTRICT ptr = (const FGDM_I *)a->indptr;
    const FGDM_I d = (FGDM_I)a->d;
    const int64_t cap = (int64_t)a->nnz_cap;
    for (ptrdiff_t p = 0; p < a->n; ++p) {
        const ptrdiff_t r = a->rows ? (ptrdiff_t)a->rows[p * a->rs] : p;
        const int64_t s = (int64_t)ptr[r], e = (int64_t)ptr[r + 1];
        if (s < 0 || e < s || e > cap) return p;
        FGDM_I bad = 0;
        for (int64_t v = s; v < e; ++v) bad |= (FGDM_I)(ind[v] < 0) | (FGDM_I)(ind[v] >= d);
        if (bad) return p;
    }
    return -1;
}

/* Batch positions [lo, hi) into part (see fgdm_csr_finish for its layout). work: 4k
 * doubles (z, e, g, hh) for softmax, then (for the Hessian) d doubles that are zero on
 * entry and on return: a row's values summed per column there (repeated columns add
 * before squaring, as in the dense row), each column's x^2 taken at its first entry in
 * storage order and its slot cleared (a repeat then adds h * 0). */
FGDM_INLINE void FGDM_SI(fgdm_csr_chunk)(const fgdm_args *a, ptrdiff_t lo, ptrdiff_t hi,
                                         double *FGDM_RESTRICT part, double *FGDM_RESTRICT G,
                                         double *work, const int want_grad,
                                         const int want_hess)
{
    const FGDM_T *FGDM_RESTRICT X = (const FGDM_T *)a->X;
    const FGDM_I *FGDM_RESTRICT ind = (const FGDM_I *)a->indices;
    const FGDM_I *FGDM_RESTRICT ptr = (const FGDM_I *)a->indptr;
    const FGDM_T *FGDM_RESTRICT coef = (const FGDM_T *)a->coef;
    const FGDM_T *FGDM_RESTRICT icpt = (const FGDM_T *)a->intercept;
    const FGDM_T *FGDM_RESTRICT sw = (const FGDM_T *)a->sw;
    const ptrdiff_t k = a->k, m = a->d * k;
    double *FGDM_RESTRICT Gb = part + 2;
    double *FGDM_RESTRICT Hb = part + 2 + k;
    double *FGDM_RESTRICT H = G + m;
    double *FGDM_RESTRICT rowx = work + 4 * k;
    double L = 0.0, W = 0.0;
    if (a->kind != FGDM_SOFTMAX) {
        const FGDM_T *FGDM_RESTRICT y = (const FGDM_T *)a->y;
        const double b = icpt ? (double)icpt[0] : 0.0, eps = a->eps;
        const int kind = a->kind;
        double gbs = 0.0, hbs = 0.0;
        for (ptrdiff_t p = lo; p < hi; ++p) {
            const ptrdiff_t r = a->rows ? (ptrdiff_t)a->rows[p * a->rs] : p;
            const ptrdiff_t s = (ptrdiff_t)ptr[r], e = (ptrdiff_t)ptr[r + 1];
            double z = 0.0;
            for (ptrdiff_t v = s; v < e; ++v) z += (double)X[v] * (double)coef[ind[v]];
            if (icpt) z = z + b;
            const double wi = sw ? (double)sw[r * a->ss] : 1.0;
            double dl, h;
            const double l = FGDM_S(fgdm_point)(kind, z, (double)y[r * a->ys], eps, &dl, &h);
            L += wi * l;
            W += wi;
            if (want_grad) {
                const double g = wi * dl;
                gbs += g;
                for (ptrdiff_t v = s; v < e; ++v) G[ind[v]] += g * (double)X[v];
            }
            if (want_hess) {
                const double hw = wi * h;
                hbs += hw;
                for (ptrdiff_t v = s; v < e; ++v) rowx[ind[v]] += (double)X[v];
                for (ptrdiff_t v = s; v < e; ++v) {
                    const double xv = rowx[ind[v]];
                    rowx[ind[v]] = 0.0;
                    H[ind[v]] += hw * (xv * xv);
                }
            }
        }
        Gb[0] = gbs;
        Hb[0] = hbs;
    } else {
        const int64_t *FGDM_RESTRICT labels = (const int64_t *)a->y;
        double *FGDM_RESTRICT z = work, *FGDM_RESTRICT ex = work + k;
        double *FGDM_RESTRICT g = work + 2 * k, *FGDM_RESTRICT hh = work + 3 * k;
        for (ptrdiff_t p = lo; p < hi; ++p) {
            const ptrdiff_t r = a->rows ? (ptrdiff_t)a->rows[p * a->rs] : p;
            const ptrdiff_t s = (ptrdiff_t)ptr[r], e = (ptrdiff_t)ptr[r + 1];
            for (ptrdiff_t c = 0; c < k; ++c) z[c] = 0.0;
            for (ptrdiff_t v = s; v < e; ++v) {
                const double xv = (double)X[v];
                const FGDM_T *FGDM_RESTRICT wv = coef + (ptrdiff_t)ind[v] * k;
                for (ptrdiff_t c = 0; c < k; ++c) z[c] += xv * (double)wv[c];
            }
            if (icpt)
                for (ptrdiff_t c = 0; c < k; ++c) z[c] = z[c] + (double)icpt[c];
            const double wi = sw ? (double)sw[r * a->ss] : 1.0;
            const double l = FGDM_S(fgdm_softmax_point)(k, z, labels[r * a->ys], wi, ex, g, hh);
            L += wi * l;
            W += wi;
            if (want_grad) {
                for (ptrdiff_t c = 0; c < k; ++c) Gb[c] += g[c];
                for (ptrdiff_t v = s; v < e; ++v) {
                    const double xv = (double)X[v];
                    double *FGDM_RESTRICT Gv = G + (ptrdiff_t)ind[v] * k;
                    for (ptrdiff_t c = 0; c < k; ++c) Gv[c] += g[c] * xv;
                }
            }
            if (want_hess) {
                for (ptrdiff_t c = 0; c < k; ++c) Hb[c] += hh[c];
                for (ptrdiff_t v = s; v < e; ++v) rowx[ind[v]] += (double)X[v];
                for (ptrdiff_t v = s; v < e; ++v) {
                    const double xv = rowx[ind[v]], x2 = xv * xv;
                    rowx[ind[v]] = 0.0;
                    double *FGDM_RESTRICT Hv = H + (ptrdiff_t)ind[v] * k;
                    for (ptrdiff_t c = 0; c < k; ++c) Hv[c] += hh[c] * x2;
                }
            }
        }
    }
    part[0] = L;
    part[1] = W;
}

static void FGDM_SI(fgdm_csr_run_chunk)(const fgdm_args *a, ptrdiff_t lo, ptrdiff_t hi,
                                        double *part, double *G, double *work,
                                        int want_grad, int want_hess)
{
    /* each combination of flags is its own loop (the flags are literal constants) */
    if (want_hess) FGDM_SI(fgdm_csr_chunk)(a, lo, hi, part, G, work, 1, 1);
    else if (want_grad) FGDM_SI(fgdm_csr_chunk)(a, lo, hi, part, G, work, 1, 0);
    else FGDM_SI(fgdm_csr_chunk)(a, lo, hi, part, G, work, 0, 0);
}

/* One chunk without the Hessian (a mini-batch): the gradient is summed into this
 * thread's scratch (fgdm_csr_scratch, zero between calls) and only the batch's columns
 * are touched: O(nnz_b * k) besides writing the outputs once. Returns a status. */
static int FGDM_SI(fgdm_csr_one_chunk)(fgdm_args *a, const int want_grad)
{
    const ptrdiff_t n = a->n, k = a->k, d = a->d;
    const FGDM_I *FGDM_RESTRICT ind = (const FGDM_I *)a->indices;
    const FGDM_I *FGDM_RESTRICT ptr = (const FGDM_I *)a->indptr;
    double *head = (double *)calloc((size_t)(6 * k + 2), sizeof(double));
    if (!head) return FGDM_NO_MEMORY;
    double *work = head + 2 + 2 * k;
    double *G = NULL;
    int64_t *touched = NULL;
    ptrdiff_t nt = 0;
    if (want_grad) {
        ptrdiff_t nnz_b = 0;
        for (ptrdiff_t p = 0; p < n; ++p) {
            const ptrdiff_t r = a->rows ? (ptrdiff_t)a->rows[p * a->rs] : p;
            nnz_b += (ptrdiff_t)ptr[r + 1] - (ptrdiff_t)ptr[r];
        }
        G = fgdm_csr_scratch(d, k, nnz_b);
        if (!G) {
            free(head);
            return FGDM_NO_MEMORY;
        }
        /* the batch's distinct columns, in order of first appearance */
        touched = fgdm_csr_ws.cols;
        const uint32_t epoch = fgdm_csr_ws.epoch;
        uint32_t *FGDM_RESTRICT stamp = fgdm_csr_ws.stamp;
        for (ptrdiff_t p = 0; p < n; ++p) {
            const ptrdiff_t r = a->rows ? (ptrdiff_t)a->rows[p * a->rs] : p;
            for (ptrdiff_t v = (ptrdiff_t)ptr[r]; v < (ptrdiff_t)ptr[r + 1]; ++v) {
                const ptrdiff_t j = (ptrdiff_t)ind[v];
                if (stamp[j] != epoch) {
                    stamp[j] = epoch;
                    touched[nt++] = (int64_t)j;
                }
            }
        }
        FGDM_SI(fgdm_csr_run_chunk)(a, 0, n, head, G, work, 1, 0);
    } else {
        double dummy = 0.0;
        FGDM_SI(fgdm_csr_run_chunk)(a, 0, n, head, &dummy, work, 0, 0);
    }
    const int status = FGDM_S(fgdm_csr_finish)(a, head, G, touched, nt);
    if (G)
        for (ptrdiff_t t = 0; t < nt; ++t)   /* the scratch back to zero */
            memset(G + touched[t] * k, 0, (size_t)k * sizeof(double));
    free(head);
    return status;
}

/* The threads to use for n rows of about nnz_row stored entries each (1 below
 * FGDM_PARALLEL_MIN multiply-adds, or with one chunk). Never changes a result. */
static int FGDM_SI(fgdm_csr_threads)(const fgdm_args *a, ptrdiff_t n, ptrdiff_t nchunks)
{
    int nt = 1;
#ifdef _OPENMP
    const double per_row = (double)a->nnz_cap / (double)(a->n_samples > 0 ? a->n_samples : 1);
    if (nchunks > 1 && a->nthreads > 1
            && per_row * (double)n * (double)a->k >= (double)FGDM_PARALLEL_MIN)
        nt = a->nthreads < nchunks ? a->nthreads : (int)nchunks;
#else
    (void)a;
    (void)n;
    (void)nchunks;
#endif
    return nt;
}

/* Loss (gradient, Hessian diagonal) of a linear model on a batch of CSR rows: the
 * mathematics of fgdm_loss_grad. Checks rows, targets and weights (fgdm_check), then the
 * structure of the rows read (FGDM_BAD_INDEX); writes nothing unless FGDM_OK. */
FGD_HIDDEN int FGDM_SI(fgdm_csr_loss_grad)(fgdm_args *a)
{
    const ptrdiff_t n = a->n, k = a->k, m = a->d * k;
    const int want_grad = a->grad_coef != NULL, want_hess = a->hess_coef != NULL;
    int status = FGDM_S(fgdm_check)(a);
    if (status != FGDM_OK) return status;
    const ptrdiff_t bad = FGDM_SI(fgdm_csr_bad_row)(a);
    if (bad >= 0) {
        a->err_pos = bad;
        return FGDM_BAD_INDEX;
    }
    const ptrdiff_t nchunks = fgdm_n_chunks(n, m), P = 2 + 2 * k + 2 * m;
    if (nchunks == 1 && !want_hess) return FGDM_SI(fgdm_csr_one_chunk)(a, want_grad);
    const ptrdiff_t per = (n + nchunks - 1) / nchunks;
    const size_t work_doubles = (size_t)(4 * k + (want_hess ? a->d : 0));
    double *part = (double *)calloc((size_t)((nchunks > 1 ? nchunks + 1 : 1) * P),
                                    sizeof(double));
    if (!part) return FGDM_NO_MEMORY;
    int failed = 0;
    const int nt = FGDM_SI(fgdm_csr_threads)(a, n, nchunks);
    if (nt > 1) {
FGDM_OMP(omp parallel num_threads(nt))
        {
            double *work = (double *)calloc(work_doubles, sizeof(double));
FGDM_OMP(omp for schedule(static))
            for (ptrdiff_t c = 0; c < nchunks; ++c) {
                const ptrdiff_t lo = c * per, hi = lo + per < n ? lo + per : n;
                if (!work) {
FGDM_OMP(omp atomic write)
                    failed = 1;
                    continue;
                }
                if (lo < hi)
                    FGDM_SI(fgdm_csr_run_chunk)(a, lo, hi, part + c * P,
                                                part + c * P + 2 + 2 * k, work, want_grad,
                                                want_hess);
            }
            free(work);
        }
    } else {  /* one thread: the same chunks in the same order */
        double *work = (double *)calloc(work_doubles, sizeof(double));
        if (!work) {
            failed = 1;
        } else {
            for (ptrdiff_t c = 0; c < nchunks; ++c) {
                const ptrdiff_t lo = c * per, hi = lo + per < n ? lo + per : n;
                if (lo < hi)
                    FGDM_SI(fgdm_csr_run_chunk)(a, lo, hi, part + c * P,
                                                part + c * P + 2 + 2 * k, work, want_grad,
                                                want_hess);
            }
        }
        free(work);
    }
    if (failed) {
        free(part);
        return FGDM_NO_MEMORY;
    }
    double *tot = part;
    if (nchunks > 1) {
        /* the chunks' partials, added in chunk order for each entry (the Hessian's half
         * only when asked for): in blocks of entries, split across the threads, which
         * does not change the order of any entry's sum */
        tot = part + nchunks * P;
        const ptrdiff_t used = want_hess ? P : 2 + 2 * k + m, B = 4096;
        const ptrdiff_t nblocks = (used + B - 1) / B;
FGDM_OMP(omp parallel for schedule(static) num_threads(nt) if(nt > 1))
        for (ptrdiff_t blk = 0; blk < nblocks; ++blk) {
            const ptrdiff_t t0 = blk * B, t1 = t0 + B < used ? t0 + B : used;
            for (ptrdiff_t c = 0; c < nchunks; ++c) {
                const double *FGDM_RESTRICT pc = part + c * P;
                for (ptrdiff_t t = t0; t < t1; ++t) tot[t] += pc[t];
            }
        }
    }
    status = FGDM_S(fgdm_csr_finish)(a, tot, tot + 2 + 2 * k, NULL, 0);
    free(part);
    return status;
}

/* Decision values of the batch's rows into out (n * k values of the element type, C
 * order), each summed as in fgdm_csr_chunk and rounded once; rows were checked. Returns
 * FGDM_OK, or FGDM_BAD_INDEX (err_pos: the first batch position with a malformed row)
 * having written nothing. */
FGD_HIDDEN int FGDM_SI(fgdm_csr_decision)(fgdm_args *a, void *out)
{
    const ptrdiff_t bad = FGDM_SI(fgdm_csr_bad_row)(a);
    if (bad >= 0) {
        a->err_pos = bad;
        return FGDM_BAD_INDEX;
    }
    const FGDM_T *FGDM_RESTRICT X = (const FGDM_T *)a->X;
    const FGDM_I *FGDM_RESTRICT ind = (const FGDM_I *)a->indices;
    const FGDM_I *FGDM_RESTRICT ptr = (const FGDM_I *)a->indptr;
    const FGDM_T *FGDM_RESTRICT coef = (const FGDM_T *)a->coef;
    const FGDM_T *FGDM_RESTRICT icpt = (const FGDM_T *)a->intercept;
    FGDM_T *FGDM_RESTRICT z = (FGDM_T *)out;
    const ptrdiff_t n = a->n, k = a->k;
    const ptrdiff_t nblocks = (n + FGDM_CHUNK_ROWS - 1) / FGDM_CHUNK_ROWS;
    const int nt = FGDM_SI(fgdm_csr_threads)(a, n, nblocks);
    (void)nt;
FGDM_OMP(omp parallel for schedule(static) num_threads(nt) if(nt > 1))
    for (ptrdiff_t blk = 0; blk < nblocks; ++blk) {
        const ptrdiff_t hi = (blk + 1) * FGDM_CHUNK_ROWS < n ? (blk + 1) * FGDM_CHUNK_ROWS : n;
        for (ptrdiff_t p = blk * FGDM_CHUNK_ROWS; p < hi; ++p) {
            const ptrdiff_t r = a->rows ? (ptrdiff_t)a->rows[p * a->rs] : p;
            const ptrdiff_t s = (ptrdiff_t)ptr[r], e = (ptrdiff_t)ptr[r + 1];
            FGDM_T *FGDM_RESTRICT zp = z + p * k;
            if (k == 1) {
                double acc = 0.0;
                for (ptrdiff_t v = s; v < e; ++v) acc += (double)X[v] * (double)coef[ind[v]];
                if (icpt) acc = acc + (double)icpt[0];
                zp[0] = (FGDM_T)acc;
                continue;
            }
            double zc[64];
            for (ptrdiff_t c0 = 0; c0 < k; c0 += 64) {  /* 64 classes at a time */
                const ptrdiff_t kc = k - c0 < 64 ? k - c0 : 64;
                for (ptrdiff_t c = 0; c < kc; ++c) zc[c] = 0.0;
                for (ptrdiff_t v = s; v < e; ++v) {
                    const double xv = (double)X[v];
                    const FGDM_T *FGDM_RESTRICT wv = coef + (ptrdiff_t)ind[v] * k + c0;
                    for (ptrdiff_t c = 0; c < kc; ++c) zc[c] += xv * (double)wv[c];
                }
                for (ptrdiff_t c = 0; c < kc; ++c)
                    zp[c0 + c] = (FGDM_T)(icpt ? zc[c] + (double)icpt[c0 + c] : zc[c]);
            }
        }
    }
    return FGDM_OK;
}
