
set terminal pngcairo size 1400,640 font 'sans,11'
set output 'sweep.png'
set multiplot layout 1,2 title "snapdiff vs git on the large-artifact repro (N MiB + 0.75N MiB files; median of runs)"
set logscale xy 2
set grid
set bmargin 10
set key at screen 0.5, screen 0.02 center bottom horizontal maxcols 2   samplen 3 width 2 font 'sans,10' box
set offsets graph 0.06, graph 0.06, graph 0.12, graph 0.06
set xrange [12.8:1280.0]
set xlabel 'artifact size N (MiB)'
set xtics ("16" 16, "64" 64, "128" 128, "256" 256, "1024" 1024)
set ylabel 'peak RSS (MiB)'
set title 'peak RSS (solid: snapdiff, dashed: git)'
set ytics (1,2,4,8,16,32,64,128,256,512,1024,2048,4096,8192,16384)
plot 'sweep.dat' using 1:2 with linespoints lw 2 lc rgb '#1b9e77' dt 1 pt 7 title 'snapdiff: track, new files', \
  'sweep.dat' using 1:4 with linespoints lw 2 lc rgb '#1b9e77' dt 2 pt 6 title 'git add -A: track, new files', \
  'sweep.dat' using 1:6 with linespoints lw 2 lc rgb '#d95f02' dt 1 pt 7 title 'snapdiff: track, every line rewritten', \
  'sweep.dat' using 1:8 with linespoints lw 2 lc rgb '#d95f02' dt 2 pt 6 title 'git add -A: track, every line rewritten', \
  'sweep.dat' using 1:10 with linespoints lw 2 lc rgb '#7570b3' dt 2 pt 6 title 'git diff --numstat: diff turn 1..2', \
  'sweep.dat' using 1:12 with linespoints lw 2 lc rgb '#7570b3' dt 1 pt 7 title 'snapdiff: diff turn 1..2, cold', \
  'sweep.dat' using 1:14 with linespoints lw 2 lc rgb '#66a61e' dt 1 pt 7 title 'snapdiff: diff turn 1..2 on the git repo', \
  'sweep.dat' using 1:16 with linespoints lw 2 lc rgb '#e7298a' dt 1 pt 7 title 'snapdiff: diff turn 1..2, warm'
set ylabel 'wall time (s)'
set title 'wall time'
unset key
set logscale y 10
set ytics auto
set format y '%g'
plot 'sweep.dat' using 1:3 with linespoints lw 2 lc rgb '#1b9e77' dt 1 pt 7 title 'snapdiff: track, new files', \
  'sweep.dat' using 1:5 with linespoints lw 2 lc rgb '#1b9e77' dt 2 pt 6 title 'git add -A: track, new files', \
  'sweep.dat' using 1:7 with linespoints lw 2 lc rgb '#d95f02' dt 1 pt 7 title 'snapdiff: track, every line rewritten', \
  'sweep.dat' using 1:9 with linespoints lw 2 lc rgb '#d95f02' dt 2 pt 6 title 'git add -A: track, every line rewritten', \
  'sweep.dat' using 1:11 with linespoints lw 2 lc rgb '#7570b3' dt 2 pt 6 title 'git diff --numstat: diff turn 1..2', \
  'sweep.dat' using 1:13 with linespoints lw 2 lc rgb '#7570b3' dt 1 pt 7 title 'snapdiff: diff turn 1..2, cold', \
  'sweep.dat' using 1:15 with linespoints lw 2 lc rgb '#66a61e' dt 1 pt 7 title 'snapdiff: diff turn 1..2 on the git repo', \
  'sweep.dat' using 1:17 with linespoints lw 2 lc rgb '#e7298a' dt 1 pt 7 title 'snapdiff: diff turn 1..2, warm'
unset multiplot
