// Package audience lets marketers describe the people they want to reach
// with an expression over what Kith knows of a person — traits, intents,
// lifecycle stage and value tier, channels, identifiers, purchases — in the
// expr language (infix, `and`/`or`/`not`, `in`, `startsWith`, `matches`,
// time arithmetic): compiled once, type-checked on save with the line,
// column and reason of any error, and evaluated against profiles. Preview
// counts who matches now and shows a sample, while the marketer types.
package audience
