-- Every changed value is hostile to some renderer: HTML, Markdown,
-- workflow commands, terminal escapes, bidi overrides, very long text.
SELECT
  id,
  CASE id
    WHEN 1 THEN '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    WHEN 2 THEN 'a | b | `code` ``` @octocat @org/team #1 [x](javascript:alert(1)) <!-- ** $x$'
    WHEN 3 THEN concat('line1', chr(10), '::error::boom', chr(13), chr(10), '::add-mask::x %0A::warning::w')
    WHEN 4 THEN concat(chr(27), '[31mred', chr(27), '[0m ', chr(8238), 'bidi ', chr(7))
    WHEN 5 THEN repeat('long ', 2000)
    ELSE label
  END AS note,
  amount,
  id * 11 AS "<img src=x onerror=alert(1)>|col`@x",
  'new' AS "::error::added @here"
FROM items
WHERE id <> 6
UNION ALL
SELECT 7, '::error file=x::injected', 7.5, 70, 'new'
