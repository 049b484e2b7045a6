# The figures of bench/b_views, drawn from bench/results/views-*.dat
# (gnuplot; `make bench` runs it).  Latency in microseconds, medians.
set terminal svg size 800,500 dynamic font "sans,12" noenhanced
set key top left
set grid
set logscale y
d = "bench/results/"

set output d."views-range.svg"
set title "Conversion latency against range size"
set xlabel "pages converted (4 KiB each)"
set ylabel "microseconds (median)"
set logscale x
plot d."views-range-uffd.dat" u 1:2 w lp t "gmemu uffd, to-private", \
     d."views-range-uffd.dat" u 1:3 w lp t "gmemu uffd, to-shared", \
     d."views-range-mapfixed.dat" u 1:2 w lp t "gmemu mapfixed, to-private", \
     d."views-range-mapfixed.dat" u 1:3 w lp t "gmemu mapfixed, to-shared", \
     d."views-range-floor.dat" u 1:2 w lp dt 2 t "floor: MADV_DONTNEED", \
     d."views-range-floor.dat" u 1:3 w lp dt 3 t "legacy model, to-private", \
     d."views-range-floor.dat" u 1:4 w lp dt 3 t "legacy model, to-shared"

set output d."views-extents.svg"
set title "One-page round trip (to private, to shared, touch) against extent count"
set xlabel "attribute extents in the view"
set logscale x
plot d."views-extents-uffd.dat" u 1:2 w lp t "gmemu uffd", \
     d."views-extents-mapfixed.dat" u 1:2 w lp t "gmemu mapfixed (ENOMEM past ~65 000)", \
     d."views-extents-floor.dat" u 1:2 w lp dt 2 t "floor: MADV_DONTNEED + refault", \
     d."views-extents-floor.dat" u 1:3 w lp dt 3 t "legacy model"

set output d."views-processes.svg"
set title "One-page to-private against other processes mapping the page"
set xlabel "other mapping processes"
unset logscale x
set xtics 1
plot d."views-procs-uffd.dat" u 1:2 w lp t "gmemu uffd", \
     d."views-procs-mapfixed.dat" u 1:2 w lp t "gmemu mapfixed", \
     d."views-procs-floor.dat" u 1:3 w lp dt 2 t "floor: MADV_DONTNEED of the page, one process", \
     d."views-procs-floor.dat" u 1:2 w lp dt 3 t "legacy model"
