-- wrk script of the mlops benchmark: POST the row in $BENCH_ROW (comma-separated) as JSON
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"features": [' .. os.getenv("BENCH_ROW") .. ']}'
