-- wrk: GET with an Authorization header (BENCH_AUTH).
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
