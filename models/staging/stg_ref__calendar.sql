MODEL (
  name staging.stg_ref__calendar,
  kind SEED (
    path '$root/seeds/calendar.csv'
  ),
  owner data_platform,
  cron '@daily',
  grain calendar_date,
  description 'One row per calendar day from 2024 to 2030: its ISO week, month and quarter (static reference data, from seeds/calendar.csv).',
  columns (
    calendar_date DATE,
    week_start_date DATE,
    month_start_date DATE,
    quarter_start_date DATE,
    iso_year INTEGER,
    iso_week INTEGER,
    day_of_week INTEGER,
    is_weekend BOOLEAN
  ),
  column_descriptions (
    calendar_date = 'The day',
    week_start_date = 'Monday of its ISO week',
    month_start_date = 'First day of its month',
    quarter_start_date = 'First day of its quarter',
    iso_year = 'ISO 8601 week-numbering year',
    iso_week = 'ISO 8601 week number (1-53)',
    day_of_week = 'ISO day of week, 1 = Monday ... 7 = Sunday',
    is_weekend = 'True on Saturday and Sunday'
  ),
  audits (
    not_null(columns := (calendar_date, week_start_date, month_start_date)),
    unique_values(columns := (calendar_date)),
    accepted_range(column := day_of_week, min_v := 1, max_v := 7)
  )
);
