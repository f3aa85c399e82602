-- Customers: the profiles that hold a purchase or a lifecycle stage, which
-- the lifecycle service reads every hour. The index holds only them, so a
-- walk over the customers never reads every person's document. ScanCustomers
-- repeats this predicate word for word, for the planner to match it.
CREATE INDEX profiles_customers ON profiles (id)
    WHERE merged_into IS NULL AND (instr(doc, '"purchases"') > 0 OR instr(doc, '"lifecycle"') > 0);
