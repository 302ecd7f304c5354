import BinProtocol

/// Report labels in English and Simplified Chinese. Data (names from the registry, device ids) is never
/// translated; only what the report itself says. The console uses the same words for streams, alerts,
/// targets and figures.
public struct ReportLabels: Sendable {
    public let language: ReportLanguage

    public init(language: ReportLanguage) {
        self.language = language
    }

    public enum Key: Sendable {
        case dailyTitle, weeklyTitle, monthlyTitle, quarterlyTitle, yearlyTitle
        case district, street, community, point, device, bin, stream, period, generated, timeZone
        case depositedKg, collectedKg, deposits, collections, contaminatedKg, unknownKg
        case separationRate, recoveryRate, contaminationRate, dryReduction, coverage
        case districtTotals, byCommunity, offlineDevices, fullBins, faults, hotSpots, byDay, targets, alertsRaised
        case dispatch, collectedTonnage, streetRanking, weights, fundingPool, totals
        case subject, raised, cleared, state, severity, message, code, active, time, detail, rate
        case capacityL, depositedL, fillRatePerDay, suggestedPerWeek, tonnes, rank, households, score, fundingShare,
            funding
        case targetName, target, current, projected, planned, deadline, status, kind, count, date, dryKgPerDay,
            baselineDryKgPerDay
        case yes, no, none, daysCovered, collectionFill
        case stationBalance, station, receivedKg, differenceKg, ratio, flags, flaggedDays
        case planTitle, roundAt, nextRoundAt, visits, routeKm, route, stop, fill, forecastCollection, forecastFull,
            reason, legKm
        case byStreet, points, bins
    }

    public func callAsFunction(_ key: Key) -> String {
        let (english, chinese) = Self.table(key)
        return language == .zh ? chinese : english
    }

    static func table(_ key: Key) -> (String, String) {
        switch key {
        case .dailyTitle: ("Daily inspection", "每日巡查报告")
        case .weeklyTitle: ("Weekly report", "周报")
        case .monthlyTitle: ("Monthly collection dispatch", "月度清运调度")
        case .quarterlyTitle: ("Quarterly review", "季度考核")
        case .yearlyTitle: ("Annual assessment", "年度考核")
        case .district: ("District", "区")
        case .street: ("Street", "街道")
        case .community: ("Community", "社区")
        case .point: ("Sorting point", "投放点")
        case .device: ("Device", "设备")
        case .bin: ("Bin", "桶")
        case .stream: ("Stream", "类别")
        case .period: ("Period", "统计周期")
        case .generated: ("Generated", "生成时间")
        case .timeZone: ("Time zone", "时区")
        case .depositedKg: ("Deposited (kg)", "投放量（千克）")
        case .collectedKg: ("Collected (kg)", "清运量（千克）")
        case .deposits: ("Deposits", "投放次数")
        case .collections: ("Collections", "清运次数")
        case .contaminatedKg: ("Mis-sorted (kg)", "混投量（千克）")
        case .unknownKg: ("Unclassified (kg)", "未识别量（千克）")
        case .separationRate: ("Separation rate", "分出率")
        case .recoveryRate: ("Recovery rate", "回收利用率")
        case .contaminationRate: ("Contamination rate", "混投率")
        case .dryReduction: ("Dry waste reduction", "干垃圾减量率")
        case .coverage: ("Coverage", "覆盖率")
        case .districtTotals: ("District totals", "全区合计")
        case .byCommunity: ("By community", "分社区统计")
        case .offlineDevices: ("Offline devices", "离线设备")
        case .fullBins: ("Full and overflowing bins", "满桶与满溢")
        case .faults: ("Sensor faults", "传感器故障")
        case .hotSpots: ("Contamination hot spots", "混投热点")
        case .byDay: ("By day", "逐日统计")
        case .targets: ("Targets", "目标进度")
        case .alertsRaised: ("Alerts raised", "告警统计")
        case .dispatch: ("Dispatch by point", "按投放点调度")
        case .collectedTonnage: ("Collected tonnage", "清运吨数")
        case .streetRanking: ("Street ranking", "街道排名")
        case .weights: ("Score weights", "评分权重")
        case .fundingPool: ("Funding pool", "奖补资金池")
        case .totals: ("Total", "合计")
        case .subject: ("Subject", "对象")
        case .raised: ("Raised", "触发时间")
        case .cleared: ("Cleared", "解除时间")
        case .state: ("State", "状态")
        case .severity: ("Severity", "级别")
        case .message: ("Message", "说明")
        case .code: ("Code", "故障代码")
        case .active: ("Active", "是否生效")
        case .time: ("Time", "时间")
        case .detail: ("Detail", "详情")
        case .rate: ("Rate", "比例")
        case .capacityL: ("Capacity (L)", "容量（升）")
        case .depositedL: ("Deposited (L)", "投放体积（升）")
        case .fillRatePerDay: ("Fill per day", "日均填充率")
        case .suggestedPerWeek: ("Suggested collections per week", "建议每周清运次数")
        case .tonnes: ("Tonnes", "吨")
        case .rank: ("Rank", "排名")
        case .households: ("Households", "户数")
        case .score: ("Score", "得分")
        case .fundingShare: ("Funding share", "资金分配比例")
        case .funding: ("Funding", "奖补资金")
        case .targetName: ("Target", "目标")
        case .target: ("Target value", "目标值")
        case .current: ("Current", "当前值")
        case .projected: ("Projected", "预测值")
        case .planned: ("Planned", "计划值")
        case .deadline: ("Deadline", "期限")
        case .status: ("Status", "状态")
        case .kind: ("Kind", "类型")
        case .count: ("Count", "数量")
        case .date: ("Date", "日期")
        case .dryKgPerDay: ("Dry kg per day", "日均干垃圾（千克）")
        case .baselineDryKgPerDay: ("Baseline dry kg per day", "干垃圾基准（千克/日）")
        case .yes: ("yes", "是")
        case .no: ("no", "否")
        case .none: ("None.", "无。")
        case .daysCovered: ("Days", "天数")
        case .collectionFill: ("Collect at fill", "清运满溢度")
        case .stationBalance: ("Transfer station mass balance", "中转站分类质量平衡")
        case .station: ("Transfer station", "中转站")
        case .receivedKg: ("Received (kg)", "中转站接收量（千克）")
        case .differenceKg: ("Difference (kg)", "差值（千克）")
        case .ratio: ("Received / collected", "接收/清运比")
        case .flags: ("Flags", "异常")
        case .flaggedDays: ("Flagged days", "异常天数")
        case .planTitle: ("Daily collection plan", "每日清运计划")
        case .roundAt: ("Round starts", "清运开始")
        case .nextRoundAt: ("Next round", "下一轮清运")
        case .visits: ("Point visits (plan / fixed round)", "到点次数（计划/固定线路）")
        case .routeKm: ("Route km (plan / fixed round)", "线路里程，公里（计划/固定线路）")
        case .route: ("Route", "清运线路")
        case .stop: ("Stop", "站序")
        case .fill: ("Fill", "满溢度")
        case .forecastCollection: ("Forecast to reach collection fill", "预计达到清运满溢度")
        case .forecastFull: ("Forecast full", "预计满桶")
        case .reason: ("Why", "原因")
        case .legKm: ("Leg km", "本段里程（公里）")
        case .byStreet: ("By street", "按街道")
        case .points: ("Points", "投放点数")
        case .bins: ("Bins", "桶数")
        }
    }

    public func stream(_ stream: WasteStream) -> String {
        switch (stream, language) {
        case (.wet, .en): "Wet (kitchen)"
        case (.wet, .zh): "湿垃圾（厨余）"
        case (.dry, .en): "Dry (residual)"
        case (.dry, .zh): "干垃圾（其他）"
        case (.recyclable, .en): "Recyclable"
        case (.recyclable, .zh): "可回收物"
        case (.hazardous, .en): "Hazardous"
        case (.hazardous, .zh): "有害垃圾"
        }
    }

    public func track(_ track: TargetTrack) -> String {
        switch (track, language) {
        case (.onTrack, .en): "On track"
        case (.onTrack, .zh): "进度正常"
        case (.atRisk, .en): "At risk"
        case (.atRisk, .zh): "存在风险"
        case (.offTrack, .en): "Off track"
        case (.offTrack, .zh): "进度滞后"
        }
    }

    public func alertKind(_ kind: AlertKind) -> String {
        switch (kind, language) {
        case (.binFull, .en): "Bin full"
        case (.binFull, .zh): "桶满"
        case (.binOverflow, .en): "Overflowing"
        case (.binOverflow, .zh): "满溢"
        case (.deviceOffline, .en): "Device offline"
        case (.deviceOffline, .zh): "设备离线"
        case (.sensorFault, .en): "Sensor fault"
        case (.sensorFault, .zh): "传感器故障"
        case (.contamination, .en): "Mis-sorting"
        case (.contamination, .zh): "混投"
        case (.targetOffTrack, .en): "Target off track"
        case (.targetOffTrack, .zh): "目标滞后"
        case (.coverageBehind, .en): "Coverage behind plan"
        case (.coverageBehind, .zh): "覆盖进度滞后"
        case (.streamMixing, .en): "Streams mixed in transport"
        case (.streamMixing, .zh): "混装混运"
        case (.massMissing, .en): "Mass missing at station"
        case (.massMissing, .zh): "中转站接收量短缺"
        case (.binFullSoon, .en): "Bin full soon"
        case (.binFullSoon, .zh): "即将满桶"
        }
    }

    public func planReason(_ reason: PlanReason) -> String {
        switch (reason, language) {
        case (.overflowing, .en): "Overflowing"
        case (.overflowing, .zh): "满溢"
        case (.aboveCollectionFill, .en): "Above collection fill"
        case (.aboveCollectionFill, .zh): "已达清运满溢度"
        case (.forecast, .en): "Forecast to reach collection fill before the next round"
        case (.forecast, .zh): "预计下一轮前达到清运满溢度"
        }
    }

    public func alertState(_ state: AlertState) -> String {
        switch (state, language) {
        case (.raised, .en): "Raised"
        case (.raised, .zh): "已触发"
        case (.acknowledged, .en): "Acknowledged"
        case (.acknowledged, .zh): "已确认"
        case (.cleared, .en): "Cleared"
        case (.cleared, .zh): "已解除"
        }
    }

    public func severity(_ severity: AlertSeverity) -> String {
        switch (severity, language) {
        case (.info, .en): "Info"
        case (.info, .zh): "提示"
        case (.warning, .en): "Warning"
        case (.warning, .zh): "警告"
        case (.critical, .en): "Critical"
        case (.critical, .zh): "严重"
        }
    }

    /// Names of the built-in targets; coverage milestones keep their configured names.
    public func targetName(_ status: TargetStatus) -> String {
        switch status.id {
        case "separation_rate": self(.separationRate)
        case "recovery_rate": self(.recoveryRate)
        case "dry_reduction": self(.dryReduction)
        case "contamination_rate": self(.contaminationRate)
        default: status.name
        }
    }

    public func component(_ component: ScoreComponent) -> String {
        switch component {
        case .separationRate: self(.separationRate)
        case .recoveryRate: self(.recoveryRate)
        case .dryReduction: self(.dryReduction)
        case .contaminationRate: self(.contaminationRate)
        case .coverage: self(.coverage)
        }
    }

    public func title(_ kind: ReportKind) -> String {
        switch kind {
        case .daily: self(.dailyTitle)
        case .weekly: self(.weeklyTitle)
        case .monthly: self(.monthlyTitle)
        case .quarterly: self(.quarterlyTitle)
        case .yearly: self(.yearlyTitle)
        }
    }
}
