use kit_db::task::Task;
pub struct Options {
    pub image: String,
    pub namespace: Option<String>,
    pub timezone: Option<String>,
}
pub fn render(_t: &[Task], _o: &Options) -> String {
    todo!()
}
