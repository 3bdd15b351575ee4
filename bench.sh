#!/bin/bash
# usage: bench.sh NAME IP PID MODE PORT SECONDS [extra dnsperf args]
name=$1 ip=$2 pid=$3 mode=$4 port=$5 secs=$6; shift 6
ticks() { awk '{print $14+$15}' /proc/$pid/stat; }
# warm the cache over plain UDP
dnsperf -s $ip -d queries.txt -l 1 -Q 500 >/dev/null 2>&1
t0=$(ticks)
out=$(dnsperf -m $mode -s $ip -p $port -d queries.txt -l $secs -c 16 -T 2 "$@" 2>&1)
t1=$(ticks)
done=$(echo "$out" | awk '/Queries completed/{print $3}')
qps=$(echo "$out" | awk '/Queries per second/{print $4}')
lost=$(echo "$out" | awk '/Queries lost/{print $3}')
hz=$(getconf CLK_TCK)
cpu=$(echo "scale=3; ($t1-$t0)/$hz" | bc)
us=$(echo "scale=2; ($t1-$t0)*1000000/$hz/$done" | bc)
echo "$name $mode $* qps=$qps completed=$done lost=$lost cpu_s=$cpu cpu_us_per_answer=$us"
